"""The deploy artifacts: Dockerfile, Railway config, CI workflow and the CI helper scripts.

Linters run offline (hadolint, check-jsonschema's vendored workflow schema); the shell
helpers run against tiny HTTP servers on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CI_SCRIPTS = ROOT / "scripts" / "ci"
SERVICES = ("whats-agents-api", "whats-agents-worker", "whats-agents-scheduler")
SHA = "0123456789abcdef0123456789abcdef01234567"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    beside = Path(sys.executable).parent / name
    assert beside.exists(), f"{name} is not installed (it is a dev dependency: make install)"
    return str(beside)


def _load_workflow() -> dict[Any, Any]:
    text = WORKFLOW.read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:  # ruamel.yaml comes with check-jsonschema
        from ruamel.yaml import YAML

        data = YAML(typ="safe").load(text)
    else:
        data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _script_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"http_proxy", "https_proxy"}}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


class _Recorder:
    """Serves the queued (status, body) answers in turn (the last one repeats) and records
    every request."""

    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def next_answer(self) -> tuple[int, Any]:
        with self.lock:
            index = min(len(self.requests) - 1, len(self.answers) - 1)
            return self.answers[index]


@contextmanager
def _server(answers: list[tuple[int, Any]]) -> Iterator[tuple[str, _Recorder]]:
    recorder = _Recorder(answers)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            with recorder.lock:
                recorder.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
            status, payload = recorder.next_answer()
            data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()


def _health(sha: str, status: str = "healthy", **checks: str) -> dict[str, Any]:
    return {
        "status": status,
        "version": "1.0.0",
        "environment": "production",
        "git_sha": sha,
        "build_time": "2026-02-10T10:30:00Z",
        "checks": {"redis": "ok", "supabase": "ok", **checks},
    }


def _wait_healthy(
    url: str, sha: str, tries: int, processes: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(CI_SCRIPTS / "wait_healthy.sh"), url, sha, str(tries)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_script_env(
            WAIT_HEALTHY_SLEEP="0.01", WAIT_HEALTHY_TIMEOUT="5", WAIT_HEALTHY_PROCESSES=processes
        ),
    )


# ---- Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_shape() -> None:
    instructions = _dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert "HEALTHCHECK" not in keywords  # worker and scheduler expose no port

    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(froms) == 2 and all(args.startswith("python:3.11-slim") for args in froms)

    runtime = instructions[keywords.index("FROM", 1) :]
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root user"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert any("--uid 10001" in args for keyword, args in runtime if keyword == "RUN")

    args = {value.split("=")[0] for keyword, value in runtime if keyword == "ARG"}
    assert {"GIT_SHA", "BUILD_TIME"} <= args
    env_lines = " ".join(value for keyword, value in runtime if keyword == "ENV")
    assert "GIT_SHA=${GIT_SHA}" in env_lines and "BUILD_TIME=${BUILD_TIME}" in env_lines
    assert "PYTHONUNBUFFERED=1" in env_lines and "/opt/venv/bin" in env_lines
    # /app/app (next to /app/migrations) wins over the copy installed in site-packages.
    assert "PYTHONPATH=/app" in env_lines
    assert "ENVIRONMENT=" not in env_lines and "APP_ENV=" not in env_lines

    assert ("EXPOSE", "8000") in runtime
    entrypoints = [value for keyword, value in runtime if keyword == "ENTRYPOINT"]
    assert entrypoints and json.loads(entrypoints[-1]) == ["/app/scripts/entrypoint.sh"]
    copies = " ".join(value for keyword, value in runtime if keyword == "COPY")
    for needed in ("/opt/venv", "app/", "migrations/", "scripts/entrypoint.sh"):
        assert needed in copies


def test_dockerignore_keeps_the_context_small() -> None:
    entries = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    for excluded in (".git", ".venv", ".julia", "tests", "docs", ".ci", "benchmarks"):
        assert excluded in entries
    assert "**/__pycache__" in entries and "**/*.pyc" in entries
    for needed in (
        "app",
        "migrations",
        "scripts",
        "requirements.lock",
        "pyproject.toml",
        "README.md",
    ):
        assert needed not in entries


# ---- Railway ------------------------------------------------------------------------------


def test_railway_toml_is_the_api_config() -> None:
    config = tomllib.loads((ROOT / "railway.toml").read_text(encoding="utf-8"))
    assert config["build"]["builder"] == "DOCKERFILE"
    assert config["build"]["dockerfilePath"] == "Dockerfile"
    deploy = config["deploy"]
    assert deploy["healthcheckPath"] == "/health/deep"
    assert deploy["healthcheckTimeout"] > 0
    assert deploy["restartPolicyType"] == "ON_FAILURE"
    assert deploy["restartPolicyMaxRetries"] > 0
    assert deploy["preDeployCommand"] == ["python -m app migrate"]
    assert "startCommand" not in deploy  # the ENTRYPOINT chooses from RUN_MODE
    api = tomllib.loads((ROOT / "deploy" / "railway.api.toml").read_text(encoding="utf-8"))
    assert api == config


@pytest.mark.parametrize("mode", ["worker", "scheduler"])
def test_worker_and_scheduler_configs_have_no_healthcheck(mode: str) -> None:
    path = ROOT / "deploy" / f"railway.{mode}.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    assert config["build"]["builder"] == "DOCKERFILE"
    assert "healthcheckPath" not in config["deploy"]
    assert "healthcheckTimeout" not in config["deploy"]
    assert config["deploy"]["restartPolicyType"] == "ON_FAILURE"


# ---- workflow -----------------------------------------------------------------------------


def test_workflow_matches_the_github_schema() -> None:
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_jobs_and_triggers() -> None:
    workflow = _load_workflow()
    triggers = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    assert triggers["push"]["branches"] == ["main"]
    assert "pull_request" in triggers
    assert workflow["permissions"] == {"contents": "read"}

    jobs = workflow["jobs"]
    assert {"lint", "test", "docker", "deploy", "notify"} <= set(jobs)
    runs = {name: "\n".join(s.get("run", "") for s in job["steps"]) for name, job in jobs.items()}
    assert "make lint" in runs["lint"]
    assert "make test" in runs["test"]
    assert "GIT_SHA=${GIT_SHA}" in runs["docker"] and "BUILD_TIME=" in runs["docker"]
    uses = {s["uses"] for job in jobs.values() for s in job["steps"] if "uses" in s}
    assert {"actions/checkout@v4", "actions/setup-python@v5"} <= uses


def test_workflow_deploys_checks_health_and_rolls_back() -> None:
    deploy = _load_workflow()["jobs"]["deploy"]
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]
    assert set(deploy["needs"]) == {"lint", "test", "docker"}
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert deploy["env"]["RAILWAY_TOKEN"] == "${{ secrets.RAILWAY_TOKEN }}"
    assert deploy["env"]["RAILWAY_PROJECT_ID"] == "${{ secrets.RAILWAY_PROJECT_ID }}"

    steps = deploy["steps"]
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "npm install -g @railway/cli" in runs
    for service in SERVICES:
        assert f"railway up --detach --service {service}" in runs

    names = [step.get("id") or step.get("name") for step in steps]
    record = names.index("record")
    first_up = next(i for i, s in enumerate(steps) if "railway up" in s.get("run", ""))
    health = next(i for i, s in enumerate(steps) if "wait_healthy.sh" in s.get("run", ""))
    rollback = names.index("rollback")
    assert record < first_up < health < rollback
    assert "/health/deep" in steps[health]["run"] and "GIT_SHA" in steps[health]["run"]
    # The gate covers the three services: the worker and scheduler must run the new commit.
    assert steps[health]["env"]["WAIT_HEALTHY_PROCESSES"] == "worker scheduler"
    assert "failure()" in steps[rollback]["if"]
    assert "rollback.sh" in steps[rollback]["run"]


def test_workflow_notifies_slack_whatever_happened() -> None:
    notify = _load_workflow()["jobs"]["notify"]
    assert "always()" in notify["if"]
    assert "deploy" in notify["needs"]
    env = {k: v for step in notify["steps"] for k, v in step.get("env", {}).items()}
    assert env["SLACK_WEBHOOK_URL"] == "${{ secrets.SLACK_WEBHOOK_URL }}"


# ---- scripts/ci ---------------------------------------------------------------------------


def test_ci_scripts_are_strict_and_executable() -> None:
    for script in CI_SCRIPTS.glob("*.sh"):
        text = script.read_text(encoding="utf-8")
        assert text.startswith("#!/usr/bin/env bash"), script.name
        assert "set -euo pipefail" in text, script.name
        assert os.access(script, os.X_OK), script.name


def test_wait_healthy_succeeds_when_the_new_sha_is_served() -> None:
    with _server([(200, _health(SHA))]) as (url, recorder):
        result = _wait_healthy(url + "/health/deep", SHA, 3)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(recorder.requests) == 1
    assert recorder.requests[0]["path"] == "/health/deep"


def test_wait_healthy_waits_through_a_rollout() -> None:
    answers = [
        (503, _health(SHA, "unhealthy", redis="error: connection refused")),
        (200, _health("f" * 40)),  # the old deployment still serving
        (200, _health(SHA)),
    ]
    with _server(answers) as (url, recorder):
        result = _wait_healthy(url + "/health/deep", SHA, 5)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(recorder.requests) == 3
    assert "redis=error: connection refused" in result.stdout


def test_wait_healthy_accepts_a_short_sha() -> None:
    with _server([(200, _health(SHA[:7]))]) as (url, _):
        assert _wait_healthy(url, SHA, 1).returncode == 0


def test_wait_healthy_fails_on_503_after_bounded_tries() -> None:
    with _server([(503, _health(SHA, "unhealthy", worker_heartbeat="stale"))]) as (url, rec):
        result = _wait_healthy(url + "/health/deep", SHA, 3)
    assert result.returncode == 1
    assert len(rec.requests) == 3
    assert "worker_heartbeat=stale" in result.stdout


def test_wait_healthy_fails_on_another_sha() -> None:
    with _server([(200, _health("f" * 40))]) as (url, recorder):
        result = _wait_healthy(url + "/health/deep", SHA, 2)
    assert result.returncode == 1
    assert len(recorder.requests) == 2


def test_wait_healthy_waits_for_the_worker_and_scheduler_of_the_new_deploy() -> None:
    old = "f" * 40

    def answer(worker: dict[str, float], scheduler: dict[str, float]) -> dict[str, Any]:
        return {**_health(SHA), "versions": {"worker": worker, "scheduler": scheduler}}

    answers = [
        (200, answer({old: 2.0}, {old: 4.0})),  # the api is new, the others still old
        (200, answer({old: 9.0, SHA[:7]: 1.0}, {old: 3.0})),  # the new worker is up
        (200, answer({SHA: 0.5}, {old: 12.0, SHA: 2.0})),  # and the new scheduler
    ]
    with _server(answers) as (url, recorder):
        result = _wait_healthy(url + "/health/deep", SHA, 5, processes="worker scheduler")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(recorder.requests) == 3
    assert f"waiting for worker runs {old}; scheduler runs {old}" in result.stdout
    assert "worker scheduler run it too" in result.stdout


def test_wait_healthy_fails_when_a_new_worker_never_comes_up() -> None:
    body = {**_health(SHA), "versions": {"worker": {}, "scheduler": {SHA: 1.0}}}
    with _server([(200, body)]) as (url, recorder):
        result = _wait_healthy(url + "/health/deep", SHA, 3, processes="worker scheduler")
    assert result.returncode == 1
    assert len(recorder.requests) == 3
    assert "waiting for worker runs nothing" in result.stdout


def test_wait_healthy_fails_when_nothing_listens() -> None:
    with _server([(200, _health(SHA))]) as (url, _):
        pass  # closed again: the port now refuses connections
    result = _wait_healthy(url + "/health/deep", SHA, 2)
    assert result.returncode == 1
    assert "HTTP 000" in result.stdout


def test_wait_healthy_rejects_bad_usage() -> None:
    result = subprocess.run(
        ["bash", str(CI_SCRIPTS / "wait_healthy.sh"), "http://127.0.0.1:9", SHA, "zero"],
        capture_output=True,
        text=True,
        timeout=30,
        env=_script_env(),
    )
    assert result.returncode == 2


def test_record_deployments_keeps_the_active_deployment(tmp_path: Path) -> None:
    listings = {
        "whats-agents-api": [
            {"id": "api-new", "status": "BUILDING", "createdAt": "2026-02-10T10:00:00Z"},
            {"id": "api-live", "status": "SUCCESS", "createdAt": "2026-02-09T10:00:00Z"},
            {"id": "api-old", "status": "REMOVED", "createdAt": "2026-02-08T10:00:00Z"},
        ],
        "whats-agents-worker": [],
    }
    fake = tmp_path / "railway"
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"listings = {json.dumps(listings)}\n"
        "args = sys.argv[1:]\n"
        "assert args[:2] == ['deployment', 'list'] and '--json' in args, args\n"
        "print(json.dumps(listings[args[args.index('--service') + 1]]))\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    out = tmp_path / "previous.txt"
    result = subprocess.run(
        ["bash", str(CI_SCRIPTS / "record_deployments.sh"), str(out), *listings],
        capture_output=True,
        text=True,
        timeout=30,
        env=_script_env(RAILWAY_BIN=str(fake)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert out.read_text().splitlines() == ["whats-agents-api api-live", "whats-agents-worker -"]


def test_rollback_calls_the_railway_api_for_each_recorded_service(tmp_path: Path) -> None:
    recorded = tmp_path / "previous.txt"
    recorded.write_text(
        "whats-agents-api dep-api\nwhats-agents-worker -\nwhats-agents-scheduler dep-sched\n"
    )
    with _server([(200, {"data": {"deploymentRollback": True}})]) as (url, recorder):
        result = subprocess.run(
            ["bash", str(CI_SCRIPTS / "rollback.sh"), str(recorded)],
            capture_output=True,
            text=True,
            timeout=30,
            env=_script_env(RAILWAY_TOKEN="project-token", RAILWAY_GRAPHQL_URL=url),
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(recorder.requests) == 2
    ids = []
    for request in recorder.requests:
        assert request["method"] == "POST"
        assert request["headers"]["Project-Access-Token"] == "project-token"
        body = json.loads(request["body"])
        assert "deploymentRollback(id: $id)" in body["query"]
        ids.append(body["variables"]["id"])
    assert ids == ["dep-api", "dep-sched"]


def test_rollback_reports_a_refused_rollback(tmp_path: Path) -> None:
    recorded = tmp_path / "previous.txt"
    recorded.write_text("whats-agents-api dep-api\nwhats-agents-worker dep-worker\n")
    refusal = {"errors": [{"message": "Deployment cannot be rolled back"}], "data": None}
    with _server([(200, refusal)]) as (url, recorder):
        result = subprocess.run(
            ["bash", str(CI_SCRIPTS / "rollback.sh"), str(recorded)],
            capture_output=True,
            text=True,
            timeout=30,
            env=_script_env(RAILWAY_TOKEN="project-token", RAILWAY_GRAPHQL_URL=url),
        )
    assert result.returncode == 1
    assert len(recorder.requests) == 2  # one refusal does not stop the other services
    assert "FAILED" in result.stderr


def test_notify_slack_posts_json_and_never_fails_the_build() -> None:
    script = str(CI_SCRIPTS / "notify_slack.sh")
    with _server([(200, "ok")]) as (url, recorder):
        sent = subprocess.run(
            ["bash", script, "failure", 'deploy "x" failed'],
            capture_output=True,
            text=True,
            timeout=30,
            env=_script_env(SLACK_WEBHOOK_URL=url + "/services/T/B/X"),
        )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert json.loads(recorder.requests[0]["body"]) == {
        "text": ':rotating_light: deploy "x" failed'
    }
    env = _script_env()
    env.pop("SLACK_WEBHOOK_URL", None)
    skipped = subprocess.run(
        ["bash", script, "success", "ok"], capture_output=True, text=True, timeout=30, env=env
    )
    assert skipped.returncode == 0
