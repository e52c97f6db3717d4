"""Sluice as a system service: `--version` on both binaries says the
project's version, and so does sluice_build_info in /metrics; under a
service manager (NOTIFY_SOCKET pointing at a datagram socket the test
owns) READY=1 arrives only once the SMTP port answers, SIGHUP sends
RELOADING=1 then READY=1, SIGTERM STOPPING=1; the systemd unit passes
`systemd-analyze verify` (and a broken one does not); `cmake --install`
lays out the binaries, the unit, the examples and the docs."""
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402

BUILD = os.path.dirname(harness.SLUICE_BIN)
SLUICECTL = os.path.join(BUILD, "sluicectl")


def project_version():
    with open(os.path.join(harness.SOURCE, "CMakeLists.txt")) as f:
        return re.search(r"project\(sluice VERSION ([0-9.]+)", f.read()).group(1)


class Version(unittest.TestCase):
    def test_both_binaries_and_the_metrics_say_the_projects_version(self):
        v = project_version()
        for binary, name in ((harness.SLUICE_BIN, "sluice"), (SLUICECTL, "sluicectl")):
            r = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "%s %s" % (name, v))
        s = harness.Sluice()
        self.addCleanup(s.cleanup)
        s.start()
        self.assertEqual(harness.metric(s, "sluice_build_info", 'version="%s"' % v), 1)


class Notify(unittest.TestCase):
    def test_ready_only_once_the_port_answers_then_reloading_and_stopping(self):
        d = tempfile.mkdtemp(prefix="sluice-notify-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        self.addCleanup(sock.close)
        sock.settimeout(60)
        s = harness.Sluice()
        self.addCleanup(s.cleanup)
        os.environ["NOTIFY_SOCKET"] = path
        try:
            s.start()
        finally:
            del os.environ["NOTIFY_SOCKET"]

        def next_state():
            data = sock.recv(4096).decode()
            return dict(line.split("=", 1) for line in data.split("\n") if "=" in line)

        ready = next_state()
        self.assertEqual(ready.get("READY"), "1", ready)
        self.assertIn("accepting mail", ready.get("STATUS", ""))
        # By the time READY=1 was sent the edge answered: it still does.
        c = smtplib.SMTP("127.0.0.1", s.port, timeout=10)
        self.assertEqual(c.noop()[0], 250)
        c.quit()
        s.proc.send_signal(signal.SIGHUP)
        reloading = next_state()
        self.assertEqual(reloading.get("RELOADING"), "1", reloading)
        self.assertTrue(reloading.get("MONOTONIC_USEC", "").isdigit(), reloading)
        self.assertEqual(next_state().get("READY"), "1")
        s.proc.send_signal(signal.SIGTERM)
        self.assertEqual(next_state().get("STOPPING"), "1")
        self.assertEqual(s.proc.wait(timeout=60), 0)


class Unit(unittest.TestCase):
    def render(self, d, extra=""):
        with open(os.path.join(harness.SOURCE, "contrib", "systemd", "sluice.service.in")) as f:
            text = f.read().replace("@SLUICE_SBINDIR@", BUILD).replace("@SLUICE_DOCDIR@", "/usr/share/doc/sluice")
        path = os.path.join(d, "sluice.service")
        with open(path, "w") as f:
            f.write(text.replace("[Service]\n", "[Service]\n" + extra))
        return path

    def test_the_unit_verifies_and_a_broken_one_does_not(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("no systemd-analyze")
        d = tempfile.mkdtemp(prefix="sluice-unit-")
        self.addCleanup(shutil.rmtree, d, True)
        good = subprocess.run(["systemd-analyze", "verify", self.render(d)], capture_output=True, text=True, timeout=60)
        self.assertEqual(good.returncode, 0, good.stderr)
        self.assertNotIn("sluice.service", good.stderr)  # no complaint about it
        with open(self.render(d)) as f:
            unit = f.read()
        for want in ("Type=notify", "User=sluice", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "ProtectSystem=strict",
                     "NoNewPrivileges=yes", "ExecReload=/bin/kill -HUP $MAINPID", "check-config"):
            self.assertIn(want, unit)
        bad = subprocess.run(["systemd-analyze", "verify", self.render(d, "Type=sometimes\nExecStart=relative/sluice\n")],
                             capture_output=True, text=True, timeout=60)
        self.assertNotEqual(bad.returncode, 0, bad.stderr)


class Install(unittest.TestCase):
    def test_cmake_install_lays_out_the_service(self):
        root = tempfile.mkdtemp(prefix="sluice-install-")
        self.addCleanup(shutil.rmtree, root, True)
        env = dict(os.environ, DESTDIR=root)
        r = subprocess.run(["cmake", "--install", BUILD, "--prefix", "/usr"], capture_output=True, text=True,
                           timeout=300, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        for rel in ("usr/sbin/sluice", "usr/bin/sluicectl", "usr/lib/systemd/system/sluice.service",
                    "usr/share/doc/sluice/LICENSE", "usr/share/doc/sluice/README.md",
                    "usr/share/doc/sluice/protection.md", "usr/share/doc/sluice/examples/sluice.toml"):
            self.assertTrue(os.path.exists(os.path.join(root, rel)), rel)
        self.assertTrue(os.access(os.path.join(root, "usr/sbin/sluice"), os.X_OK))
        with open(os.path.join(root, "usr/lib/systemd/system/sluice.service")) as f:
            self.assertIn("ExecStart=/usr/sbin/sluice serve --config /etc/sluice/sluice.toml", f.read())
        r = subprocess.run([os.path.join(root, "usr/sbin/sluice"), "--version"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.stdout.strip(), "sluice " + project_version())


if __name__ == "__main__":
    unittest.main()
