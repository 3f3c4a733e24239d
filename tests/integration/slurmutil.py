"""A private Slurm on this machine for tests: munged, slurmctld and slurmd,
on loopback, with their own slurm.conf, munge key, state, spool and log
directories in a temporary directory and their own ports, stopped after.

The configuration needs no cgroups and no accounting (proctrack/linuxproc,
task/none, jobacct_gather/none), runs the daemons as root (SlurmUser and
SlurmdUser), and declares one node "localhost" at 127.0.0.1 with more CPUs
than the machine has (SlurmdParameters=config_overrides) so a 4-task job
fits on a 2-core machine. Slurm commands find it through SLURM_CONF.
"""
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time

from ports import ephemeral_low

CONF = """ClusterName=volleytest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SrunPortRange={srun_lo}-{srun_hi}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={dir}/munge/socket
CredType=cred/munge
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "srun", "sinfo")


def missing_binaries():
    return [b for b in BINARIES if not (shutil.which(b) or os.path.exists("/usr/sbin/" + b))]


def _port_block(n):
    """n consecutive ports, all free now, below the kernel's ephemeral range
    (where the other tests' port-0 listeners and client sockets never land):
    slurmctld, slurmd and srun's SrunPortRange."""
    rng = random.Random(os.getpid() ^ int(time.time()))
    top = ephemeral_low() - n
    for _ in range(500):
        lo = rng.randrange(10000, top)
        ok = True
        for p in range(lo, lo + n):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return lo
    raise RuntimeError(f"no free block of {n} loopback ports below {top + n}")


class Slurm:
    """Starts the three daemons; raises RuntimeError (with the logs) if the
    node does not become idle within the timeout."""

    def __init__(self, timeout=90.0):
        self.dir = tempfile.mkdtemp(prefix="volley-slurm-")
        os.chmod(self.dir, 0o755)  # munged checks the socket's directories
        self.procs = []
        for d in ("state", "spool", "log", "munge"):
            os.makedirs(os.path.join(self.dir, d))
        os.chmod(os.path.join(self.dir, "munge"), 0o755)
        key = os.path.join(self.dir, "munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        base = _port_block(22)
        ctld, d, lo, hi = base, base + 1, base + 2, base + 21
        self.conf = os.path.join(self.dir, "slurm.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(dir=self.dir, ctld_port=ctld, d_port=d, srun_lo=lo, srun_hi=hi))
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        try:
            self._start(timeout)
        except Exception:
            self.stop()
            raise

    def _spawn(self, name, args):
        out = open(os.path.join(self.dir, "log", name + ".out"), "w")
        p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=self.env)
        out.close()
        self.procs.append((name, p))
        return p

    def _start(self, timeout):
        m = os.path.join(self.dir, "munge")
        self._spawn("munged", ["munged", "-F", "-f", "--socket=" + m + "/socket",
                               "--key-file=" + m + "/munge.key", "--log-file=" + m + "/log",
                               "--pid-file=" + m + "/pid", "--seed-file=" + m + "/seed"])
        self._wait(lambda: os.path.exists(m + "/socket"), 10, "munged did not create its socket")
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", self.conf])
        self._spawn("slurmd", ["slurmd", "-D", "-f", self.conf, "-N", "localhost"])
        self._wait(self._idle, timeout, "the node did not become idle")

    def _idle(self):
        for name, p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited ({p.returncode}): " + self.logs())
        r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                           env=self.env, timeout=10)
        return r.returncode == 0 and r.stdout.strip() == "idle"

    def _wait(self, cond, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if cond():
                return
            time.sleep(0.2)
        raise RuntimeError(what + ": " + self.logs())

    def logs(self):
        text = []
        for f in ("log/slurmctld.out", "log/slurmd.out", "munge/log"):
            try:
                with open(os.path.join(self.dir, f)) as fh:
                    text.append(f"--- {f}\n" + "".join(fh.readlines()[-15:]))
            except OSError:
                pass
        return "\n".join(text)

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)
