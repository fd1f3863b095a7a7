from __future__ import annotations

import pytest

from app.domain.inbox.detection import handoff_reason, is_opt_out, normalize

OPT_OUT = [
    "pare",
    "Pare!",
    "PARAR",
    "para",
    "sair",
    "Sair.",
    "stop",
    "STOP!!!",
    "quero sair",
    "pare por favor",
    "Chega",
    "pare de me mandar mensagem",
    "para de me mandar mensagem, por favor",
    "Parem de enviar essas mensagens",
    "para com essas mensagens",
    "quero parar de receber isso",
    "não quero mais",
    "Não quero mais receber mensagens",
    "nao quero receber esse tipo de mensagem",
    "não tenho interesse",
    "Não tenho interesse, obrigado",
    "nao tenho mais interesse",
    "sem interesse",
    "não tenho interesse em plantões",  # generic object: still an opt-out
    "não tenho interesse em trabalhar com vocês",
    "Não tenho interesse. Só isso",  # "só" without a shift attribute is no alternative
    "me tira da lista",
    "Me tire dessa lista por favor",
    "remove meu número",
    "Remova meu contato",
    "por favor apaguem meu número",
    "não me mande mais nada",
    "Não me mandem mais mensagens",
    "não me procure mais",
    "descadastrar",
    "quero me descadastrar",
    "cancelar inscrição",
    "Bom dia. Não entre mais em contato comigo.",
    "me remove daí",
    "quero sair dessa lista",
]

NOT_OPT_OUT = [
    "não paro de trabalhar",
    "pare aqui no hospital",
    "vou sair do plantão às 19h",
    "para mim tanto faz",
    "não tenho interesse em noturno, só diurno",
    "Não tenho interesse em plantão noturno",
    "não tenho interesse nesse plantão",
    "não tenho interesse em fim de semana, mas durante a semana sim",
    "Não tenho interesse em UTI, só PS",
    "não quero mais fazer plantão de 24h",
    "não tenho interesse, só diurno",
    "stop no semáforo",
    "saio às 18h, posso te ligar depois?",
    "para quando é o plantão?",
    "pode parar o carro ali",
    "não quero",  # declining a single offer
    "tenho interesse sim",
    "me tira uma dúvida: é CLT ou PJ?",
    "",
    "   ",
    "não pare de me mandar vagas",  # explicitly asks to keep receiving
    "preciso sair mais cedo no sábado",
]


@pytest.mark.parametrize("text", OPT_OUT)
def test_opt_out(text: str) -> None:
    assert is_opt_out(text) is True


@pytest.mark.parametrize("text", NOT_OPT_OUT)
def test_not_opt_out(text: str) -> None:
    assert is_opt_out(text) is False


HANDOFF = [
    # pedido
    ("quero falar com um humano", "pedido"),
    ("Quero falar com um atendente", "pedido"),
    ("falar com atendente", "pedido"),
    ("tem alguém aí de verdade?", "pedido"),
    ("me passa pra uma pessoa", "pedido"),
    ("Preciso conversar com alguém da Revoluna", "pedido"),
    ("posso falar com o responsável?", "pedido"),
    ("quero atendimento humano", "pedido"),
    ("tem algum humano aí?", "pedido"),
    # bot
    ("vc é um robô?", "bot"),
    ("isso é bot?", "bot"),
    ("é uma IA?", "bot"),
    ("Você é inteligência artificial?", "bot"),
    ("to falando com um chatbot?", "bot"),
    ("isso é resposta automática?", "bot"),
    ("Você é uma pessoa de verdade?", "bot"),
    ("vc é humana?", "bot"),
    ("você é real?", "bot"),
    ("isso é automático?", "bot"),
    # juridico
    ("vou falar com meu advogado", "juridico"),
    ("Vou abrir um processo contra vocês", "juridico"),
    ("isso vai dar processo", "juridico"),
    ("vou processar vocês", "juridico"),
    ("vou reclamar no Procon", "juridico"),
    ("isso é uma denúncia", "juridico"),
    ("Isso é SPAM", "juridico"),
    ("quem te deu meu número?", "juridico"),
    ("Onde vocês conseguiram meu contato?", "juridico"),
    ("vou te denunciar", "juridico"),
    ("isso fere a LGPD", "juridico"),
    ("isso é golpe?", "juridico"),
    # negativo
    ("que absurdo, isso é ridículo", "negativo"),
    ("palhaçada, que vergonha", "negativo"),
    ("Porra, que merda de mensagem", "negativo"),
    ("lixo de empresa, idiota", "negativo"),
    ("ABSURDO!!! RIDÍCULO!!!", "negativo"),
    # order: legal wins over a request for a person
    ("quero falar com um humano agora ou vou no procon", "juridico"),
]

NO_HANDOFF = [
    "como funciona o processo seletivo?",
    "qual é o processo pra me cadastrar?",
    "como funciona o processo?",
    "quando vão processar meu pagamento?",
    "eu ia fazer esse plantão mas não deu",
    "e aí, tudo bem?",
    "tem alguém aí?",
    "vou falar com a coordenadora do hospital e te aviso",
    "vc é uma pessoa muito atenciosa",
    "que absurdo de trânsito hoje",  # one negative word is not enough
    "sou pessoa jurídica, pode ser PJ?",
    "tenho interesse no plantão de sábado",
    "",
    "obrigado!",
    "o pagamento é automático?",
]


@pytest.mark.parametrize(("text", "reason"), HANDOFF)
def test_handoff_reason(text: str, reason: str) -> None:
    assert handoff_reason(text) == reason


@pytest.mark.parametrize("text", NO_HANDOFF)
def test_no_handoff(text: str) -> None:
    assert handoff_reason(text) is None


def test_table_sizes() -> None:
    assert len(OPT_OUT) + len(NOT_OPT_OUT) >= 30
    assert len(HANDOFF) + len(NO_HANDOFF) >= 25


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Não  QUERO\tmais!!", "nao quero mais"),
        ("Olá, tudo bem? Sim.", "ola , tudo bem , sim"),
        ("  ...  ", ""),
        ("ＳＴＯＰ", "stop"),  # full-width letters fold with NFKD
        ("robô — IA", "robo ia"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected
