"""Fixtures for the integration suite: the real binaries, a fresh data folder
per test, and real clients (the openssl command line) to make CSRs and check
what the CA issues."""

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

BIN = Path(os.environ.get("WOTCA_BIN", Path(__file__).resolve().parents[2] / "build" / "bin"))
WOTCA = BIN / "wotca"


def run(args, check=True, env=None, input=None, timeout=60, preexec=None):
    """Runs a command and returns the CompletedProcess; with check, fails the
    test with its output if it did not exit 0."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env,
                          input=input, timeout=timeout, preexec_fn=preexec)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {proc.returncode}\n"
                    f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


class Daemon:
    """One of the daemons, started on the CA's configuration; a thread reads
    its stderr into `stderr` for as long as it runs (so a chatty daemon never
    blocks on a full pipe) and the start waits until it logs the port it
    listens on (`pattern`'s group 1). A daemon that dies or does not log it
    within 30 s fails the test, with its log. The test's fixture stops it,
    so a failing test leaves nothing running."""

    def __init__(self, name, ca, listen="127.0.0.1:0", pattern=r"listening on 127\.0\.0\.1:(\d+)",
                 stop_timeout=10):
        self.name, self.ca, self.listen, self.pattern = name, ca, listen, pattern
        self.stop_timeout = stop_timeout
        self.start()

    def start(self):
        self.proc = subprocess.Popen([str(BIN / self.name), "--config", str(self.ca.config), "--listen", self.listen],
                                     stderr=subprocess.PIPE, text=True)
        self.port = None
        self.stderr = []
        listening = threading.Event()

        def read(proc=self.proc, lines=self.stderr):
            for line in proc.stderr:
                lines.append(line)
                m = self.port is None and re.search(self.pattern, line)
                if m:
                    self.port = int(m.group(1))
                    listening.set()
            listening.set()  # the daemon closed stderr: it has exited

        threading.Thread(target=read, daemon=True).start()
        listening.wait(timeout=30)
        if not self.port:
            self.kill()
            pytest.fail(f"{self.name} did not start: " + "".join(self.stderr))

    def wait_for_log(self, text, timeout=10):
        """Whether a line holding `text` appears in the daemon's log (from
        the first line on) within `timeout` seconds."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(text in line for line in list(self.stderr)):
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        """SIGTERM, then SIGKILL if it has not exited in time; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Ca:
    """A CA made by `wotca init` in a temporary folder, driven by the CLI."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.config = self.data / "wotca.yaml"
        self.env = dict(os.environ, WOTCA_CONFIG=str(self.config))

    def init(self):
        return run([WOTCA, "init", "--data", self.data])

    def cli(self, *args, check=True, env=None):
        return run([WOTCA, *args], check=check, env=env or self.env)

    def json(self, *args, check=True):
        proc = self.cli("--json", *args, check=check)
        return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None

    @property
    def db(self):
        return self.data / "wotca.db"

    def pem(self, name):
        return self.data / "public" / f"{name}.pem"

    def snapshot(self):
        """Everything a change could touch: the database's full dump and the
        folder's file list with sizes, for 'changes nothing' assertions."""
        dump = run(["sqlite3", self.db, ".dump"]).stdout
        files = sorted((str(p.relative_to(self.data)), p.stat().st_size)
                       for p in self.data.rglob("*")
                       if p.is_file() and not p.name.startswith("wotca.db"))
        return dump, files

    def sql(self, query):
        return run(["sqlite3", "-json", self.db, query]).stdout

    def rows(self, query):
        out = self.sql(query).strip()
        return json.loads(out) if out else []

    # --- the Web of Trust, through the CLI ---

    def member(self, name, email, dob="1980-05-17", verify=True):
        code, doc = self.json("member", "add", "--name", name, "--dob", dob, "--email", email, "--accept-cca")
        assert code == 0, doc
        if verify:
            self.cli("email", "verify", "--member", email, "--email", email,
                     "--operator-reason", "checked in person for the test")
        return doc["id"]

    def founding_assurer(self, name, email):
        mid = self.member(name, email)
        self.cli("member", "found", "--member", email, "--reason", "founding nucleus of the test CA")
        self.cli("cats", "pass", "--member", email)
        return mid

    def assure(self, assurer, member, points, dob="1980-05-17", check=True, **extra):
        args = ["assure", "--assurer", assurer, "--member", member, "--points", str(points),
                "--date", extra.get("date", "2026-11-01"), "--place", extra.get("place", "Berlin, c-base"),
                "--dob", dob, "--documents", extra.get("documents", "passport,id-card")]
        if "method" in extra:
            args += ["--method", extra["method"]]
        return self.cli(*args, check=check)


@pytest.fixture
def ca(tmp_path):
    c = Ca(tmp_path)
    c.init()
    return c


@pytest.fixture
def blank(tmp_path):
    """A CA object whose folder has not been initialised."""
    return Ca(tmp_path)


def make_key(path: Path, kind="ec256"):
    if kind == "ec256":
        run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path])
    elif kind.startswith("rsa"):
        run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{int(kind[3:])}", "-out", path])
    else:
        raise ValueError(kind)
    return path


def make_csr(tmp: Path, name: str, subject="/CN=test", dns=(), emails=(), kind="ec256"):
    """A CSR made by the openssl command line, as a member would."""
    key = make_key(tmp / f"{name}.key", kind)
    csr = tmp / f"{name}.csr"
    args = ["openssl", "req", "-new", "-key", key, "-out", csr, "-subj", subject]
    sans = [f"DNS:{d}" for d in dns] + [f"email:{e}" for e in emails]
    if sans:
        args += ["-addext", "subjectAltName=" + ",".join(sans)]
    run(args)
    return csr


def x509_text(path: Path):
    return run(["openssl", "x509", "-in", path, "-noout", "-text"]).stdout


def split_chain(pem_text: str):
    parts = pem_text.split("-----END CERTIFICATE-----")
    return [p.strip() + "\n-----END CERTIFICATE-----\n" for p in parts if "BEGIN CERTIFICATE" in p]


@pytest.fixture(scope="session")
def have_runuser():
    return shutil.which("setpriv") is not None and os.geteuid() == 0


@pytest.fixture
def issued(ca, tmp_path):
    """A CA with one client certificate of the Class 1 CA, and the chain a relying party trusts."""
    ca.member("Olga", "olga@example.org")
    csr = make_csr(tmp_path, "olga", subject="/CN=x", emails=["olga@example.org"])
    leaf = tmp_path / "leaf.pem"
    ca.cli("cert", "issue", "--member", "olga@example.org", "--profile", "client-email", "--csr", csr, "--out", leaf)
    chain = tmp_path / "trust.pem"
    chain.write_text(ca.pem("root").read_text() + ca.pem("class1").read_text())
    serial = run(["openssl", "x509", "-in", leaf, "-noout", "-serial"]).stdout.strip().split("=")[1].lower()
    return ca, leaf, chain, serial
