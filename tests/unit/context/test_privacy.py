"""Ignore rules and secret masking, table by table.

Test secrets are assembled from pieces so that this file holds no literal that scanners flag.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from copilot.context.privacy import DEFAULT_IGNORE, IgnoreRules, mask_secrets

# --- Ignore rules ---------------------------------------------------------------------------------

FILES = {
    ".gitignore": "# build output\nbuild/\n*.log\n!keep.log\n/generated.py\n!override.pem\n",
    ".git/info/exclude": "scratch.py\n",
    ".copilotignore": "private/\n!wanted.log\n",
    "pkg/.gitignore": "*.gen.py\n!important.gen.py\nlocal/\n",
    "docs/.copilotignore": "draft_*.md\n",
    "build/.gitignore": "!kept.py\n",
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def ignored(rules: IgnoreRules, path: str | Path) -> str | None:
    """A trailing slash marks a directory (the files need not exist)."""
    text = str(path)
    return rules.ignored(Path(text.rstrip("/")), is_dir=text.endswith("/"))


@pytest.mark.parametrize("path", ["config/credentials.py", "src/secrets.py", "auth/credentials_test.go"])
def test_source_files_named_like_credential_files_stay_in(workspace: Path, path: str) -> None:
    assert ignored(IgnoreRules.for_root(workspace), path) is None


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("src/main.py", None),
        ("build/", ".gitignore: build/"),
        ("build/out.py", ".gitignore: build/"),
        ("build/kept.py", ".gitignore: build/"),  # no re-including below an ignored directory
        ("debug.log", ".gitignore: *.log"),
        ("keep.log", None),
        ("generated.py", ".gitignore: /generated.py"),
        ("pkg/generated.py", None),  # anchored to the root
        ("pkg/x.gen.py", "pkg/.gitignore: *.gen.py"),
        ("pkg/sub/x.gen.py", "pkg/.gitignore: *.gen.py"),
        ("pkg/important.gen.py", None),
        ("x.gen.py", None),  # a nested .gitignore applies below its own directory only
        ("pkg/local/a.py", "pkg/.gitignore: local/"),
        ("local/a.py", None),
        ("scratch.py", ".git/info/exclude: scratch.py"),
        ("private/notes.py", ".copilotignore: private/"),
        ("wanted.log", None),  # a .copilotignore negation lets through what .gitignore ignores
        ("docs/draft_1.md", "docs/.copilotignore: draft_*.md"),
        ("draft_1.md", None),
        ("override.pem", "default: *.pem"),  # .gitignore cannot let a secret through
        ("secret/a.py", "settings: secret/**"),
        ("pkg/secret/a.py", None),
    ],
)
def test_ignore_reasons(workspace: Path, path: str, reason: str | None) -> None:
    rules = IgnoreRules.for_root(workspace, ["secret/**"])
    assert ignored(rules, path) == reason
    assert ignored(rules, workspace / path if not path.endswith("/") else f"{workspace / path}/") == reason


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        (".env", ".env"),
        ("app/.env.local", ".env.*"),
        (".env.production", ".env.*"),
        ("certs/server.pem", "*.pem"),
        ("tls.key", "*.key"),
        ("cert.p12", "*.p12"),
        ("cert.pfx", "*.pfx"),
        ("app.keystore", "*.keystore"),
        ("release.jks", "*.jks"),
        ("vault.kdbx", "*.kdbx"),
        ("id_rsa", "id_rsa*"),
        ("keys/id_rsa.pub", "id_rsa*"),
        ("id_dsa", "id_dsa*"),
        ("id_ecdsa", "id_ecdsa*"),
        ("id_ed25519", "id_ed25519*"),
        (".npmrc", ".npmrc"),
        (".pypirc", ".pypirc"),
        (".netrc", ".netrc"),
        ("web/.htpasswd", ".htpasswd"),
        ("credentials", "credentials"),
        ("config/credentials.json", "credentials.json"),
        ("config/secrets.yaml", "secrets.y*ml"),
        ("infra/main.tfstate", "*.tfstate"),
        ("home/.aws/config", ".aws/"),
        (".ssh/config", ".ssh/"),
        (".gnupg/pubring.kbx", ".gnupg/"),
        (".docker/config.json", "**/.docker/config.json"),
        ("ci/.docker/config.json", "**/.docker/config.json"),
        (".kube/config", "**/.kube/config"),
    ],
)
def test_default_patterns(workspace: Path, path: str, pattern: str) -> None:
    assert pattern in DEFAULT_IGNORE
    assert ignored(IgnoreRules.for_root(workspace), path) == f"default: {pattern}"


@pytest.mark.parametrize(
    "path", [".env.example", ".env.sample", ".env.template", "keys.py", "docker/config.json", "kube/config", "key.py"]
)
def test_default_patterns_let_ordinary_files_through(workspace: Path, path: str) -> None:
    assert ignored(IgnoreRules.for_root(workspace), path) is None


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("elsewhere/proj/.env", "default: .env"),
        ("elsewhere/.ssh/known_hosts", "default: .ssh/"),
        ("elsewhere/main.py", None),
        ("elsewhere/build/x.py", None),  # the workspace's .gitignore does not reach outside it
        ("elsewhere/secret/a.py", "settings: secret/**"),  # configured globs match the path's tail
    ],
)
def test_paths_outside_the_root(workspace: Path, path: str, reason: str | None) -> None:
    outside = workspace.parent / path
    assert IgnoreRules.for_root(workspace, ["secret/**"]).ignored(outside, is_dir=False) == reason
    assert IgnoreRules.for_root(None, ["secret/**"]).ignored(outside, is_dir=False) == reason


def test_without_gitignore_only_copilotignore_and_defaults_apply(workspace: Path) -> None:
    rules = IgnoreRules.for_root(workspace, use_gitignore=False)
    assert ignored(rules, "build/out.py") is None
    assert ignored(rules, "scratch.py") is None
    assert ignored(rules, "private/notes.py") == ".copilotignore: private/"
    assert ignored(rules, "server.pem") == "default: *.pem"


def test_is_dir_is_looked_up_when_not_given(workspace: Path) -> None:
    (workspace / "pkg" / "local").mkdir()
    rules = IgnoreRules.for_root(workspace)
    assert rules.ignored(workspace / "pkg" / "local") == "pkg/.gitignore: local/"


def test_unreadable_ignore_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").mkdir()  # reading it fails
    (tmp_path / ".copilotignore").write_bytes(b"# caf\xe9\n*.tmp.py\n")  # not UTF-8: still read
    rules = IgnoreRules.for_root(tmp_path)
    assert ignored(rules, "main.py") is None
    assert ignored(rules, "x.tmp.py") is not None


def test_forget_rereads_a_changed_ignore_file(workspace: Path) -> None:
    rules = IgnoreRules.for_root(workspace)
    assert ignored(rules, "pkg/notes.py") is None
    assert ignored(rules, "pkg/tmp/") is None
    (workspace / "pkg" / ".gitignore").write_text("notes.py\ntmp/\n")
    assert ignored(rules, "pkg/notes.py") is None  # cached until told
    rules.forget(workspace / "pkg")
    assert ignored(rules, "pkg/notes.py") == "pkg/.gitignore: notes.py"
    assert ignored(rules, "pkg/tmp/x.py") == "pkg/.gitignore: tmp/"
    (workspace / "pkg" / ".gitignore").write_text("")
    rules.reload()
    assert ignored(rules, "pkg/tmp/x.py") is None


# --- Secret masking -------------------------------------------------------------------------------

GITHUB = "gh" + "p_" + "a1B2c3D4e5" * 3 + "F6g7H8"
GITHUB_PAT = "github" + "_pat_" + "11ABCDEFG0" + "a1" * 10 + "_" + "b2" * 15
GITLAB = "glp" + "at-" + "xY3" * 7
SLACK = "xo" + "xb-" + "1234567890-abcdefghij"
OPENAI = "s" + "k-" + "A1b2C3d4E5f6G7h8I9j0" + "K1l2M3n4"
OPENAI_PROJECT = "s" + "k-proj-" + "Ab1_-" * 8
ANTHROPIC = "s" + "k-ant-api03-" + "Ab1_-" * 8
STRIPE = "s" + "k_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
STRIPE_RESTRICTED = "r" + "k_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
STRIPE_TEST = "s" + "k_test_" + "4eC39HqLyjWDarjtT1zdp7dc"
GOOGLE = "AI" + "za" + "x1Y2z3" * 5 + "w4V5u"
NPM = "np" + "m_" + "a1B2c3D4e5" * 3 + "F6g7H8"
JWT = "ey" + "JhbGciOiJIUzI1NiJ9." + "ey" + "JzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
HUGGINGFACE = "h" + "f_" + "abcdEFGH" * 4
AWS_ID = "AK" + "IA" + "Q3WERTY7UIOPASDF"
AWS_TEMPORARY_ID = "AS" + "IA" + "Q3WERTY7UIOPASDF"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYZq1w2E3r4T"
PEM_BODY = "MIIEowIBAAKCAQEA7bq\nZmFrZSBrZXkgbWF0ZXJpYWw=\n"
PEM_RSA = "-----BEGIN " + "RSA PRIVATE KEY-----\n" + PEM_BODY + "-----END RSA PRIVATE KEY-----"
PEM_OPENSSH = "-----BEGIN " + "OPENSSH PRIVATE KEY-----\n" + PEM_BODY + "-----END OPENSSH PRIVATE KEY-----"
PEM_PKCS8 = "-----BEGIN " + "PRIVATE KEY-----\n" + PEM_BODY + "-----END PRIVATE KEY-----"
PEM_PGP = "-----BEGIN " + "PGP PRIVATE KEY BLOCK-----\n" + PEM_BODY + "-----END PGP PRIVATE KEY BLOCK-----"


# "@" in the template stands for the secret; it becomes <secret:KIND>, the rest stays as is.
@pytest.mark.parametrize(
    ("template", "secret", "kind"),
    [
        ('token = "@"', GITHUB, "github-token"),
        ("Authorization: token @", GITHUB, "github-token"),
        ("GH_TOKEN=@", GITHUB_PAT, "github-token"),
        ("git clone https://oauth2:@ at gitlab", GITLAB, "gitlab-token"),
        ("SLACK_BOT = @", SLACK, "slack-token"),
        ('client = OpenAI(api_key="@")', OPENAI, "openai-key"),
        ("OPENAI_API_KEY=@", OPENAI_PROJECT, "openai-key"),
        ("key: @", ANTHROPIC, "anthropic-key"),
        ("stripe.api_key = '@'", STRIPE, "stripe-key"),
        ("restricted=@", STRIPE_RESTRICTED, "stripe-key"),
        ("test key @ here", STRIPE_TEST, "stripe-key"),
        ('const maps = "@";', GOOGLE, "google-api-key"),
        ("//registry.npmjs.org/:_authToken=@", NPM, "npm-token"),
        ("headers = {'Authorization': 'Bearer @'}", JWT, "jwt"),
        ("HF_TOKEN=@", HUGGINGFACE, "huggingface-token"),
        ("AWS_ACCESS_KEY_ID=@", AWS_ID, "aws-access-key"),
        ("aws_access_key_id = @", AWS_TEMPORARY_ID, "aws-access-key"),
        ("aws_secret_access_key = @", AWS_SECRET, "aws-secret-key"),
        ('AWS_SECRET_ACCESS_KEY: "@"', AWS_SECRET, "aws-secret-key"),
        ("KEY = '''@'''", PEM_RSA, "private-key"),
        ("@\n", PEM_OPENSSH, "private-key"),
        ('"private_key": "@",', PEM_PKCS8.replace("\n", "\\n"), "private-key"),
        ("@", PEM_PGP, "private-key"),
        ('password = "@"', "hunter2!x9", "password"),
        ("db_password: str = '@'", "correcthorsebattery", "password"),
        ('"passwd": "@"', "Tr0ub4dor&3", "password"),
        ("api_key: '@'", "Zx9Qw8Er7Ty6", "api-key"),
        ('apiKey = "@"', "Zx9Qw8Er7Ty6", "api-key"),
        ('secret_token="@"', "Ab12cd34ef", "token"),
        ("CLIENT_SECRET = `@`", "q8W7e6R5t4", "secret"),
        ('password := "@"', "hunter2!x9", "password"),
        ("'secret_key' => '@',", "b7f3c9e1a2d4", "secret"),
        ('token = "@"', "x-" + GITHUB, "token"),  # the whole value, when more than a token
    ],
)
def test_secret_is_masked(template: str, secret: str, kind: str) -> None:
    text = template.replace("@", secret)
    masked, count = mask_secrets(text)
    assert masked == template.replace("@", f"<secret:{kind}>")
    assert count == 1
    assert mask_secrets(masked) == (masked, 0)  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "password = get_password()",
        'password = ""',
        "password = ''",
        'api_key = os.environ["API_KEY"]',
        'token = os.getenv("TOKEN", "")',
        "if password == 'hunter2!x9':",
        'password = "<your-password>"',
        'api_key = "${API_KEY}"',
        'password = "{{ vault_password }}"',
        'password = "%(password)s"',
        'password = "********"',
        'api_key = "xxxxxxxxxxxxxxxx"',
        'api_key = "your-api-key-here"',
        'token = "identifier"',  # a plain word, not a token
        'token_type = "Bearer_abc123"',
        'secret = "The secret is out"',
        "password = f'{user}:{pw}'",
        "def tokenize(text: str) -> list[str]:\n    return text.split()",
        "task-list-manager-and-scheduler-v2",
        "disk-usage-monitoring-service-name",
        "sk-learn-compatible-estimators-api",
        "ASIA_REGION = 'ap-southeast-1'",
        "keyboard_layout = 'qwertz'",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
        "a.b.c eyJ.x.y",
        "Istanbul İ token",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_secrets(text) == (text, 0)


def test_source_code_is_left_alone() -> None:
    source = Path(__file__).parents[3].joinpath("copilot", "languages.py").read_text()
    assert mask_secrets(source) == (source, 0)


def test_private_key_in_code_keeps_the_code_around_it() -> None:
    text = f'import ssl\n\nKEY = """\n{PEM_RSA}\n"""\n\ndef load():\n    return KEY\n'
    masked, count = mask_secrets(text)
    assert masked == 'import ssl\n\nKEY = """\n<secret:private-key>\n"""\n\ndef load():\n    return KEY\n'
    assert count == 1


def test_truncated_private_key_is_masked_to_the_end() -> None:
    text = "x = 1\n" + PEM_RSA.split("-----END")[0]
    assert mask_secrets(text) == ("x = 1\n<secret:private-key>", 1)


def test_every_secret_is_counted() -> None:
    text = f"a = '{GITHUB}'\nb = '{AWS_ID}'\npassword = 'hunter2!x9'\nnothing = 1\nc = {JWT}\n"
    masked, count = mask_secrets(text)
    assert count == 4
    assert masked == (
        "a = '<secret:github-token>'\nb = '<secret:aws-access-key>'\npassword = '<secret:password>'\n"
        "nothing = 1\nc = <secret:jwt>\n"
    )
    assert mask_secrets(masked) == (masked, 0)
