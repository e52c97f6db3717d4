"""The command line: check-config explains a broken config (file, line,
key, what) and exits non-zero; a bad invocation is one clear line and a
non-zero exit; serve refuses a bad config without starting."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


def run(*args, cwd=None):
    return subprocess.run([harness.SLUICE_BIN, *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


class Cli(unittest.TestCase):
    def test_example_config_is_valid(self):
        # Paths in the example are relative to the source tree, as for make
        # run, which also creates the self-signed certificate it names.
        subprocess.run([os.path.join(harness.SOURCE, "scripts", "make-cert"), "var/tls"],
                       cwd=harness.SOURCE, check=True, capture_output=True)
        r = run("check-config", "examples/sluice.toml", cwd=harness.SOURCE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "examples/sluice.toml: ok")
        # The example runs, but its admin token is public: warned, on stderr.
        self.assertEqual(r.stderr.strip().splitlines(), [
            "examples/sluice.toml: warning: admin.token: is the example's token: anyone who read the example "
            "can change this node"])

    def test_broken_config_names_file_line_and_key(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write('[server]\nworkers = 0\nlisten = ["127.0.0.1"]\n[queu]\nretry_initial = "1s"\n')
        self.addCleanup(os.unlink, f.name)
        r = run("check-config", f.name)
        self.assertEqual(r.returncode, 1)
        lines = r.stderr.strip().splitlines()
        self.assertIn("%s:2: server.workers: must be between 1 and 256" % f.name, lines)
        self.assertIn('%s:3: server.listen: "127.0.0.1" is not host:port' % f.name, lines)
        self.assertIn('%s:4: queu: unknown key (did you mean "queue"?)' % f.name, lines)

    def test_serve_refuses_a_broken_config(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write("[log]\nlevel = \"loud\"\n")
        self.addCleanup(os.unlink, f.name)
        r = run("serve", "--config", f.name)
        self.assertEqual(r.returncode, 1)
        self.assertIn('%s:2: log.level: "loud" is not one of' % f.name, r.stderr)

    def test_bad_invocations_are_one_line_and_nonzero(self):
        for args in ([], ["frobnicate"], ["check-config"], ["serve", "--config"]):
            r = run(*args)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, (args, r.stderr))
            self.assertTrue(r.stderr.startswith("sluice: "), r.stderr)
        # Without --config, serve reads the packaged path; absent, it says so.
        if not os.path.exists("/etc/sluice/sluice.toml"):
            r = run("serve")
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stderr.strip().splitlines(), ["/etc/sluice/sluice.toml: cannot open file"])

    def test_example_seed_has_three_forests(self):
        with open(os.path.join(harness.SOURCE, "examples", "directory.toml")) as f:
            text = f.read()
        self.assertIn('forests = ["na-1", "na-2", "de-1"]', text)

    def test_bad_certificate_is_reported(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write('[tls]\ncert = "/nonexistent/cert.pem"\nkey = "/nonexistent/key.pem"\n'
                    '[destinations.l]\ntype = "maildir"\nroot = "/tmp"\n')
        self.addCleanup(os.unlink, f.name)
        r = run("check-config", f.name)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:2: tls.cert: tls certificate /nonexistent/cert.pem:" % f.name, r.stderr)

    def test_missing_config_file(self):
        r = run("check-config", "/nonexistent/sluice.toml")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(), "/nonexistent/sluice.toml: cannot open file")

    def test_port_in_use_is_reported(self):
        s = harness.Sluice().start()
        self.addCleanup(s.cleanup)
        other = harness.Sluice()
        self.addCleanup(other.cleanup)
        with open(other.config) as f:
            text = f.read().replace("127.0.0.1:%d" % other.port, "127.0.0.1:%d" % s.port)
        with open(other.config, "w") as f:
            f.write(text)
        r = run("serve", "--config", other.config)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen on 127.0.0.1:%d" % s.port, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
