"""A private single-node SLURM on this machine, for the tests (issue 30).

:func:`local_slurm` starts Debian's ``munged``, ``slurmctld`` and ``slurmd`` as plain processes
(no systemd, no cgroups) with a private configuration in a temporary folder, fake GPUs as GRES,
and a free port pair, yields a :class:`LocalSlurm` whose :attr:`~LocalSlurm.env` points the
client commands (``sbatch``, ``squeue``, ``scontrol``, ``scancel``) at it, and on the way out --
also when the test fails -- cancels the jobs and stops every daemon it started, by pid, with
SIGTERM then SIGKILL (slurmd ignores SIGTERM while it cannot reach slurmctld).

What it sets, and why:

- ``ProctrackType=proctrack/linuxproc``, ``TaskPlugin=task/none``: no cgroups needed;
- ``SlurmdParameters=config_overrides``: the node is what the configuration says (CPUs, memory,
  GPUs), not what the machine has, so a 2-core machine can hold several 1-CPU tasks (nothing
  enforces the limits without cgroups);
- ``AuthInfo=socket=...``: a private munge socket and key, not the system's;
- ``NodeName=localhost`` started with ``slurmd -N localhost``;
- ``Gres=gpu:N`` with ``gres.conf`` ``File=`` on character devices made with ``mknod`` (the
  major/minor of /dev/null): SLURM then sets ``CUDA_VISIBLE_DEVICES`` per task;
- no accounting daemon (``sacct`` would need slurmdbd and MariaDB): job states come from
  ``scontrol show job`` (kept ``MinJobAge`` seconds) and the ``jobcomp/filetxt`` file.

Client commands hang when slurmctld is down, so every call here has a timeout.

Needs root and the Debian packages ``slurmctld slurmd slurm-client munge``
(:func:`unavailable` says why not, for ``pytest.skip``).
"""
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")
#: Seconds a client command may take before it is given up (slurmctld down: they hang).
CLIENT_TIMEOUT = 30


def _which(name):
    return shutil.which(name) or next((p for p in ("/usr/sbin/" + name, "/usr/bin/" + name)
                                       if os.access(p, os.X_OK)), None)


def unavailable():
    """None when a private SLURM can be started here, else the reason (one line)."""
    if os.geteuid() != 0:
        return "the local SLURM needs root (mknod, munged's key, slurmd)"
    missing = [n for n in DAEMONS + CLIENTS if not _which(n)]
    if missing:
        return ("SLURM is not installed (%s missing): apt-get install slurmctld slurmd "
                "slurm-client munge" % ", ".join(missing))
    return None


def free_ports(n=2):
    """``n`` distinct TCP ports free on this machine now."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def stop_pid(pid, what="process", grace=10.0, log=None):
    """Stop process ``pid``: SIGTERM, then SIGKILL after ``grace`` seconds; True once gone."""
    def alive():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        try:                                    # a zombie of ours: reap it
            done, _ = os.waitpid(pid, os.WNOHANG)
            return done == 0
        except ChildProcessError:
            with open("/proc/%d/stat" % pid) as f:
                return f.read().split(")")[-1].split()[0] != "Z"
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if not alive():
            return True
        if log and sig == signal.SIGKILL:
            log("%s (pid %d) ignored SIGTERM for %.0f s: SIGKILL" % (what, pid, grace))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        t_end = time.time() + wait
        while time.time() < t_end:
            if not alive():
                return True
            time.sleep(0.05)
    return not alive()


class LocalSlurm:
    """A running private SLURM: its folder, configuration, environment and client helpers."""

    def __init__(self, root, cpus, memory_mb, gpus, kill_wait):
        self.root = root
        self.cpus, self.memory_mb, self.gpus, self.kill_wait = cpus, memory_mb, gpus, kill_wait
        self.conf = os.path.join(root, "slurm.conf")
        self.munge_socket = os.path.join(root, "munge", "munge.socket")
        self.jobcomp = os.path.join(root, "jobcomp.txt")
        self.ctld_port, self.d_port = free_ports(2)
        self.procs = {}                 # daemon name -> Popen
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        for var in [k for k in self.env if k.startswith(("SLURM_", "SBATCH_", "SQUEUE_"))]:
            if var != "SLURM_CONF":     # a job's variables would leak into the private cluster
                del self.env[var]

    # -------------------------------------------------------------------- configuration
    def write_config(self):
        root = self.root
        for sub in ("munge", "ctld", "spool", "dev", "log"):
            os.makedirs(os.path.join(root, sub), exist_ok=True)
        os.chmod(os.path.join(root, "munge"), 0o700)
        devs = []
        for i in range(self.gpus):
            dev = os.path.join(root, "dev", "nvidia%d" % i)
            if not os.path.exists(dev):
                os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 3))   # a char device like /dev/null
            devs.append(dev)
        key = os.path.join(root, "munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        gres = "Gres=gpu:%d " % self.gpus if self.gpus else ""
        lines = [
            "ClusterName=rcnreidtest",
            "SlurmctldHost=localhost",
            "SlurmctldPort=%d" % self.ctld_port,
            "SlurmdPort=%d" % self.d_port,
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            "AuthInfo=socket=%s" % self.munge_socket,
            "StateSaveLocation=%s" % os.path.join(root, "ctld"),
            "SlurmdSpoolDir=%s" % os.path.join(root, "spool"),
            "SlurmctldPidFile=%s" % os.path.join(root, "slurmctld.pid"),
            "SlurmdPidFile=%s" % os.path.join(root, "slurmd.pid"),
            "SlurmctldLogFile=%s" % os.path.join(root, "log", "slurmctld.log"),
            "SlurmdLogFile=%s" % os.path.join(root, "log", "slurmd.log"),
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SlurmdParameters=config_overrides",
            "SchedulerType=sched/builtin",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU_Memory",
            "GresTypes=gpu",
            "MpiDefault=none",
            "ReturnToService=2",
            "KillWait=%d" % self.kill_wait,
            "MinJobAge=3600",
            "JobRequeue=1",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/filetxt",
            "JobCompLoc=%s" % self.jobcomp,
            "JobAcctGatherType=jobacct_gather/none",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "NodeName=localhost CPUs=%d RealMemory=%d %sState=UNKNOWN"
            % (self.cpus, self.memory_mb, gres),
            "PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(root, "gres.conf"), "w") as f:
            f.writelines("NodeName=localhost Name=gpu File=%s\n" % d for d in devs)

    # -------------------------------------------------------------------- daemons
    def _start(self, name, argv):
        log = open(os.path.join(self.root, "log", name + ".out"), "ab")
        try:
            self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, env=self.env,
                                                cwd=self.root, start_new_session=True)
        finally:
            log.close()

    def _check_running(self, name):
        p = self.procs[name]
        if p.poll() is not None:
            raise RuntimeError("%s exited with status %s at start; its log: %s"
                               % (name, p.returncode, self.log_tail(name)))

    def log_tail(self, name, n=2000):
        out = ""
        for path in (os.path.join(self.root, "log", name + ".out"),
                     os.path.join(self.root, "log", name + ".log")):
            with contextlib.suppress(OSError), open(path, errors="replace") as f:
                out += f.read()[-n:]
        return out

    def start(self, timeout=60):
        """Start munged, slurmctld and slurmd; return once the node is idle."""
        r = self.root
        self._start("munged", [_which("munged"), "-F", "--force",
                               "--socket=%s" % self.munge_socket,
                               "--key-file=%s" % os.path.join(r, "munge", "munge.key"),
                               "--pid-file=%s" % os.path.join(r, "munge", "munged.pid"),
                               "--log-file=%s" % os.path.join(r, "log", "munged.log"),
                               "--seed-file=%s" % os.path.join(r, "munge", "munged.seed")])
        self._wait(lambda: os.path.exists(self.munge_socket), "munged", 20)
        self._start("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", self.conf])
        self._start("slurmd", [_which("slurmd"), "-D", "-N", "localhost", "-f", self.conf])
        self._wait(self.node_idle, "slurmd", timeout)

    def _wait(self, ready, name, timeout):
        t_end = time.time() + timeout
        while time.time() < t_end:
            for n in self.procs:
                self._check_running(n)
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError("%s not ready after %d s; its log: %s"
                           % (name, timeout, self.log_tail(name)))

    def node_idle(self):
        try:
            out = self.client("sinfo", "-h", "-N", "-o", "%T", timeout=5, check=False)
        except subprocess.TimeoutExpired:
            return False
        return out.returncode == 0 and out.stdout.strip() == "idle"

    def stop(self, log=None):
        """Cancel every job, wait for them, then stop slurmd, slurmctld and munged by pid."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.client("scancel", "--full", "--user=root", "--partition=test",
                            timeout=10, check=False)
                t_end = time.time() + 3 * self.kill_wait + 10
                while time.time() < t_end and self.jobs_left():
                    time.sleep(0.2)
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if p is not None:
                stop_pid(p.pid, name, grace=10.0, log=log)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=1)
        for pid in self.strays():                   # slurmstepd left behind by a killed slurmd
            stop_pid(pid, "slurmstepd", grace=2.0, log=log)

    def jobs_left(self):
        out = self.client("squeue", "-h", "-o", "%i", timeout=10, check=False)
        return out.returncode == 0 and bool(out.stdout.strip())

    def strays(self):
        """Pids of slurmstepd processes of this private SLURM (its SLURM_CONF in their
        environment)."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if not f.read().startswith(b"slurmstepd"):
                        continue
                with open("/proc/%s/environ" % d, "rb") as f:
                    if ("SLURM_CONF=%s" % self.conf).encode() in f.read().split(b"\0"):
                        pids.append(int(d))
            except OSError:
                continue
        return pids

    # -------------------------------------------------------------------- clients
    def client(self, *argv, timeout=CLIENT_TIMEOUT, check=True, env=None):
        """Run a SLURM client command against this cluster (with a timeout)."""
        out = subprocess.run([_which(argv[0])] + list(argv[1:]), capture_output=True, text=True,
                             env=env or self.env, timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError("%s: status %d: %s" % (" ".join(argv), out.returncode,
                                                      (out.stderr or out.stdout).strip()))
        return out

    def job(self, job_id):
        """``scontrol show job`` as a dict (JobState, Restarts, ExitCode, ...); {} if unknown."""
        out = self.client("scontrol", "-o", "show", "job", str(job_id), check=False)
        if out.returncode != 0:
            return {}
        return dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", out.stdout))

    def wait_jobs(self, job_ids, timeout, states=("COMPLETED", "FAILED", "CANCELLED",
                                                  "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")):
        """Wait until every job of ``job_ids`` is in a final state; return {id: job dict}."""
        t_end = time.time() + timeout
        while True:
            info = {j: self.job(j) for j in job_ids}
            if all(d.get("JobState") in states for d in info.values()):
                return info
            if time.time() > t_end:
                raise RuntimeError("jobs not finished after %d s: %s" % (
                    timeout, {j: (d.get("JobState"), d.get("Reason")) for j, d in info.items()}))
            time.sleep(0.5)


@contextlib.contextmanager
def local_slurm(root=None, cpus=4, memory_mb=64000, gpus=2, kill_wait=5, log=None):
    """Start a private SLURM for the block; stop all it started afterwards, also on errors.

    ``root``: the folder for its state (a new temporary folder, removed afterwards, when None).
    """
    made = root is None
    root = root or tempfile.mkdtemp(prefix="rcnreid-slurm-")
    cluster = LocalSlurm(os.path.abspath(root), cpus, memory_mb, gpus, kill_wait)
    try:
        cluster.write_config()
        cluster.start()
        yield cluster
    finally:
        cluster.stop(log=log)
        if made:
            shutil.rmtree(root, ignore_errors=True)
