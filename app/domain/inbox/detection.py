"""Deterministic detection of opt-out and handoff requests in a doctor's message.

These run before the model sees anything, so they must be cheap, predictable and testable.
Text is compared accent- and case-insensitively ("Não" == "nao"), with punctuation turned
into spaces; clause breaks (, . ; ! ? newline) become a " , " token so a rule can look at
"the rest of this clause".

Opt-out rules (LGPD: an opt-out must never be missed, so ambiguity leans toward opting out):

* Explicit phrases count anywhere: "pare de me mandar", "não me mande mais", "me tira da
  lista", "remove meu número", "descadastrar", "cancelar inscrição", "não quero mais
  receber"...
* "não tenho interesse" / "não quero mais" / "sem interesse" count unless the same clause (or
  a following "só"/"mas"/"prefiro" clause) qualifies them with a shift attribute (noturno,
  diurno, fim de semana, 12h, "esse plantão"...): "não tenho interesse em noturno, só
  diurno" is a preference, "não tenho interesse nesse plantão" declines one offer, and
  neither should silence Julia forever. A generic object ("em plantões", "em trabalhar com
  vocês") is still an opt-out.
* The bare commands "pare", "parar", "para", "sair", "stop", "chega", "cancelar", "remover"
  count only when they are (nearly) the whole message: "Pare!", "stop", "quero sair por
  favor". "pare aqui no hospital", "vou sair do plantão", "stop no semáforo" do not.
"""

from __future__ import annotations

import re
from typing import Literal

from app.core.text import strip_accents

HandoffReason = Literal["pedido", "bot", "juridico", "negativo"]

_CLAUSE_BREAK = re.compile(r"[.,;!?\n\r]+")
_NOT_WORD = re.compile(r"[^a-z0-9, ]+")
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lowercase, accents stripped, punctuation as spaces, clause breaks kept as " , "."""
    plain = strip_accents(text).lower()
    plain = _CLAUSE_BREAK.sub(" , ", plain)
    plain = _NOT_WORD.sub(" ", plain)
    plain = _SPACES.sub(" ", plain).strip()
    # Leading/trailing and repeated clause breaks carry no meaning.
    plain = re.sub(r"(?:\s*,\s*)+", " , ", plain)
    return plain.strip(" ,")


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(rf"(?:\b{p}\b)" for p in patterns))


# Opt-out ---------------------------------------------------------------------------------

_SEND_VERBS = (
    r"(?:mandar|manda|mande|mandem|enviar|envia|envie|enviem|ligar|escrever|chamar|"
    r"incomodar|encher|perturbar)"
)
_STRONG_OPT_OUT = _rx(
    # "pare de me mandar mensagem", "para de me encher", "parem de enviar"
    rf"(?:pare|para|parem|parar|paren)\s+(?:de|com)\s+(?:me\s+|nos\s+)?{_SEND_VERBS}",
    r"(?:pare|para|parem|parar)\s+(?:de|com)\s+(?:essas|as|estas|tantas)\s+mensage(?:m|ns)",
    r"(?:parar|pare|para) de receber",
    r"nao\s+(?:me\s+)?(?:mande|manda|mandem|envie|envia|enviem|chame|procure|procurem|ligue|contate|contatem|perturbe|incomode)\s+mais",
    r"nao\s+(?:quero|desejo)\s+(?:mais\s+)?(?:receber|ser\s+contatad[oa]|que\s+(?:me\s+)?(?:mande|mandem|envie|enviem|chame|procure|liguem|ligue))",
    r"nao\s+(?:entre|entrem)\s+mais\s+em\s+contato",
    r"me\s+(?:tira|tire|tirem|retira|retire|retirem)\s+(?:da|dessa|desta|de\s+sua|da\s+sua)\s+(?:lista|base|cadastro)",
    r"me\s+(?:tira|tire|tirem|retira|retire|retirem)\s+(?:daqui|do\s+cadastro|do\s+sistema|dos\s+contatos)",
    r"me\s+(?:remove|remova|removam|exclui|exclua|excluam|apaga|apague|descadastra|descadastre|descadastrem|bloqueia|bloqueie)",
    r"(?:remov|retir|exclu|apag|delet|tir)\w*\s+(?:o\s+)?(?:meu|meus)\s+(?:numero|contato|telefone|cadastro|dados)",
    r"(?:remov|retir|exclu|apag|delet|tir)\w*\s+(?:o\s+)?(?:numero|contato|telefone|cadastro)\s+meu",
    r"descadastr\w*",
    r"cancel\w*\s+(?:a\s+|minha\s+)?(?:inscricao|assinatura)",
    r"unsubscribe",
    r"sair\s+(?:da|dessa|desta|de\s+sua|da\s+sua)\s+(?:lista|base)",
)

# Phrases that are an opt-out unless a shift attribute qualifies them (see module doc).
_SOFT_OPT_OUT = _rx(
    r"nao\s+(?:tenho|tem|temos)\s+(?:mais\s+|nenhum\s+|qualquer\s+)?interesse",
    r"sem\s+(?:nenhum\s+|qualquer\s+)?interesse",
    r"nao\s+(?:quero|desejo)\s+mais",
    r"nao\s+me\s+interessa(?:\s+mais)?",
)
_QUALIFIER = _rx(
    # Shift attributes: period, days, length.
    r"noturn[oa]s?",
    r"diurn[oa]s?",
    r"noite",
    r"madrugada",
    r"manha",
    r"tarde",
    r"(?:fim|fins|final|finais)\s+de\s+semana",
    r"sabados?",
    r"domingos?",
    r"feriados?",
    r"\d{1,2}\s*h",
    r"\d{1,2}\s+horas",
    # Sectors and specialties a shift is for.
    r"uti",
    r"ps",
    r"pronto\s+(?:socorro|atendimento)",
    r"emergencia",
    r"enfermaria",
    r"ambulatorio",
    r"centro\s+cirurgico",
    r"sala\s+vermelha",
    r"pediatria",
    r"obstetricia",
    r"clinica\s+medica",
    r"cirurgia",
    r"ortopedia",
    r"anestesia",
    r"cardiologia",
    r"telemedicina",
    # One specific offer: "nesse plantão", "essa vaga", "desse hospital".
    r"(?:nesse|neste|nessa|nesta|esse|este|essa|esta|desse|deste|dessa|desta|aquele|aquela)\s+"
    r"(?:plantao|plantoes|vaga|vagas|hospital|horario|turno|escala|data|dia|valor|local|setor)",
)
_ALTERNATIVE = re.compile(r"^(?:so|somente|apenas|mas|prefiro|porem|pode ser|quero|topo)\b")

_BARE_COMMANDS = frozenset(
    {"pare", "parar", "para", "parem", "sair", "stop", "chega", "cancelar", "remover", "basta"}
)
# Words that may surround a bare command without changing what it means.
_FILLERS = frozenset(
    {
        "por",
        "favor",
        "pf",
        "pfv",
        "pfvr",
        "pls",
        "please",
        "ja",
        "agora",
        "ok",
        "okay",
        "obrigado",
        "obrigada",
        "obg",
        "grato",
        "grata",
        "blz",
        "quero",
        "eu",
        "so",
        "e",
        "isso",
        "mesmo",
        "aqui",
        "daqui",
        "me",
        "deixa",
        "opa",
        "oi",
        "ola",
        "tchau",
        "gente",
        "moca",
        "julia",
    }
)


def is_opt_out(text: str) -> bool:
    """True when the message asks Revoluna to stop contacting this person."""
    norm = normalize(text)
    if not norm:
        return False
    for match in _STRONG_OPT_OUT.finditer(norm):
        # "não pare de me mandar vagas" asks for the opposite.
        if not norm[: match.start()].endswith(("nao ", "nunca ")):
            return True
    if _is_bare_command(norm):
        return True
    clauses = norm.split(" , ")
    for index, clause in enumerate(clauses):
        for match in _SOFT_OPT_OUT.finditer(clause):
            if not _qualified(clause[match.end() :], clauses[index + 1 :]):
                return True
    return False


def _is_bare_command(norm: str) -> bool:
    words = [w for w in norm.split() if w != ","]
    if len(words) > 6 or not any(w in _BARE_COMMANDS for w in words):
        return False
    # Any word outside the fillers ("aqui no hospital", "do plantão", "no semáforo") turns
    # the command into ordinary speech.
    return all(w in _BARE_COMMANDS or w in _FILLERS for w in words)


def _qualified(rest_of_clause: str, following: list[str]) -> bool:
    if _QUALIFIER.search(rest_of_clause):
        return True
    # "não tenho interesse, só diurno": the next clause offers an alternative.
    return bool(following and _ALTERNATIVE.match(following[0]) and _QUALIFIER.search(following[0]))


# Handoff ---------------------------------------------------------------------------------

_LEGAL = _rx(
    r"advogad[oa]s?",
    r"procon",
    r"denunci\w*",
    r"process(?:ar|o|a|em)\s+(?:voces|vcs|vc|voce|a\s+empresa|essa\s+empresa|a\s+revoluna)",
    r"(?:vou|vamos|irei|posso|te)\s+(?:te\s+|lhe\s+|os\s+)?processar",
    r"(?:vou|vamos|irei)\s+(?:entrar|abrir|mover)\s+(?:com\s+)?(?:um\s+)?processo",
    r"na\s+justica",
    r"reclame\s+aqui",
    r"lgpd",
    r"anpd",
    r"spam",
    # Accusations of fraud go to a person as well: Julia must not argue them.
    r"golpe",
    r"golpistas?",
    r"fraude",
    r"quem\s+(?:te|lhe|vos|\w+)?\s*(?:deu|passou|forneceu|vendeu)\s+(?:o\s+)?(?:meu|meus)\s+"
    r"(?:numero|contato|telefone|dados)",
    r"(?:onde|como)\s+(?:vc|voce|voces|vcs|tu|\w+)?\s*(?:conseguiu|conseguiram|pegou|pegaram|"
    r"arrumou|arrumaram|achou|acharam|obteve)\s+(?:o\s+)?(?:meu|meus)\s+"
    r"(?:numero|contato|telefone|dados)",
)
# "processo" is legal unless it is clearly the hiring/registration process ("processo
# seletivo", "como funciona o processo?"), which doctors ask Julia about all the time.
_PROCESSO = re.compile(r"\bprocessos?\b")
_PROCESSO_NOT_LEGAL = _rx(
    r"processos?\s+(?:seletiv[oa]s?|de\s+(?:selecao|cadastro|credenciamento|contratacao|admissao|"
    r"onboarding|pagamento|escala)|admissional)",
    r"(?:o|qual|como|sobre\s+o)\s+(?:e\s+)?(?:o\s+)?processo\s+(?:pra|para|de)\s+"
    r"(?:me\s+)?(?:cadastr|particip|entr|trabalh|inscrev|credenc|receb)\w*",
    r"(?:como\s+(?:e|funciona)|qual\s+e)\s+o\s+processo",
)

_REAL = r"(?:de\s+verdade|real|mesmo)"
_BOT = _rx(
    r"robos?",
    r"robozinho",
    r"bots?",
    r"chat\s*bot",
    r"chatgpt",
    r"gpt",
    r"inteligencia\s+artificial",
    r"uma\s+ia",
    r"(?:vc|voce|tu|ce|isso|isto)\s+(?:e|eh|es)\s+ia",
    r"^(?:e|eh)\s+ia$",
    r"(?:mensagem|resposta|atendimento)\s+automatic[oa]",
    # Not "o pagamento é automático?": only Julia or her message can be the subject.
    r"(?:isso|isto|vc|voce|tu|essa\s+mensagem|essa\s+resposta)\s+(?:e|eh|es)\s+automatic[oa]",
    r"^(?:e|eh)\s+automatic[oa]$",
    rf"(?:vc|voce|tu|ce)\s+(?:e|eh|es|existe)\s+{_REAL}",
    r"(?:e|eh)\s+(?:uma\s+)?maquina",
    # "vc é uma pessoa?" / "é gente de verdade?", but not "vc é uma pessoa muito gentil".
    r"(?:vc|voce|tu|ce)\s+(?:e|eh|es)\s+(?:uma\s+|um\s+)?(?:pessoa|gente|humana|humano)"
    rf"(?:\s+{_REAL}|(?=\s*(?:,|$)))",
    rf"(?:e|eh)\s+(?:uma\s+|um\s+)?(?:pessoa|gente|humana|humano)\s+{_REAL}",
)

_ARTICLE = r"(?:um\s+|uma\s+|o\s+|a\s+|algum\s+|alguma\s+)?"
# Someone who can only be a human at Revoluna.
_HUMAN = (
    rf"{_ARTICLE}(?:humano|humana|ser\s+humano|atendente|operador|operadora|"
    rf"(?:pessoa|alguem|gente)\s+{_REAL})"
)
# Anyone: only a request for them when the doctor asks to be put through.
_ANYONE = (
    rf"(?:{_HUMAN}|{_ARTICLE}(?:pessoa|alguem|responsavel|gerente|supervisor|supervisora|"
    r"coordenador|coordenadora|(?:seu|sua|teu|tua)\s+(?:chefe|gerente|supervisora?)))"
)
_REQUEST = _rx(
    rf"(?:falar|conversar|falo|fala)\s+com\s+{_HUMAN}",
    r"(?:quero|queria|preciso|prefiro|gostaria\s+de|posso|da\s+pra|tem\s+como|deixa\s+eu)\s+"
    rf"(?:falar|conversar)\s+com\s+{_ANYONE}",
    r"(?:passa|passe|passar|transfere|transfira|transferir|encaminha|encaminhe)\s+"
    rf"(?:me\s+)?(?:pra|para|pro)\s+{_ANYONE}",
    rf"(?:tem|ha|existe)\s+(?:alguem|uma\s+pessoa|um\s+humano|gente)\s+(?:ai\s+)?{_REAL}",
    r"(?:tem|ha|existe)\s+(?:algum\s+|alguma\s+|um\s+|uma\s+)?(?:humano|humana|atendente)",
    r"atendimento\s+humano",
)

_NEGATIVE_WORD = re.compile(
    r"\b(?:absurd[oa]s?|ridicul[oa]s?|palhacadas?|palhac[oa]s?|vergonh\w*|lixo|lixos|merdas?|"
    r"porra|idiotas?|caralho|bosta|desgrac\w*|imbecis|imbecil|otari[oa]s?|pessim[oa]s?|"
    r"lamentavel|nojent[oa]s?|cacete|fdp|pqp|vsf|vtnc|babacas?|cretin[oa]s?|ridiculariz\w*)\b"
)
_NEGATIVE_THRESHOLD = 2


def handoff_reason(text: str) -> HandoffReason | None:
    """Why this message should go to a human, or None.

    "juridico" (legal threat, complaint, "quem te deu meu número"), "pedido" (asks for a
    person), "bot" (asks whether Julia is a robot/AI), "negativo" (two or more strongly
    negative words). Checked in that order: the most serious reason wins.
    """
    norm = normalize(text)
    if not norm:
        return None
    if _LEGAL.search(norm) or _legal_processo(norm):
        return "juridico"
    if _REQUEST.search(norm):
        return "pedido"
    if _BOT.search(norm):
        return "bot"
    if len(_NEGATIVE_WORD.findall(norm)) >= _NEGATIVE_THRESHOLD:
        return "negativo"
    return None


_NUMBER_SOURCE = _rx(
    r"quem\s+(?:te|lhe|vos|\w+)?\s*(?:deu|passou|forneceu|vendeu)\s+(?:o\s+)?(?:meu|meus)\s+"
    r"(?:numero|contato|telefone|dados)",
    r"(?:onde|como)\s+(?:vc|voce|voces|vcs|tu|\w+)?\s*(?:conseguiu|conseguiram|pegou|pegaram|"
    r"arrumou|arrumaram|achou|acharam|obteve)\s+(?:o\s+)?(?:meu|meus)\s+"
    r"(?:numero|contato|telefone|dados)",
)


def asks_number_source(text: str) -> bool:
    """ "Quem te deu meu número?", "onde vc conseguiu meu contato?": the doctor asks where
    their number came from (also a "juridico" handoff reason)."""
    return bool(_NUMBER_SOURCE.search(normalize(text)))


def _legal_processo(norm: str) -> bool:
    if not _PROCESSO.search(norm):
        return False
    # Blank out the recruiting senses; any "processo" left is the legal one.
    remaining = _PROCESSO_NOT_LEGAL.sub(" ", norm)
    return bool(_PROCESSO.search(remaining))
