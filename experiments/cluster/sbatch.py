"""The SLURM client commands the submitter calls, each with a timeout (they hang while slurmctld
is down), their failures one line (:class:`rcnreid.errors.UserError`)."""
import getpass
import shutil
import subprocess

from rcnreid.errors import UserError

#: Seconds a client command may take.
TIMEOUT = 60


def _run(argv, timeout=TIMEOUT, env=None):
    exe = shutil.which(argv[0])
    if exe is None:
        raise UserError("%s: not found; run this on a SLURM login node (or install slurm-client)"
                        % argv[0])
    try:
        out = subprocess.run([exe] + list(argv[1:]), capture_output=True, text=True,
                             timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise UserError("%s: no answer from slurmctld in %d s; check `sinfo`, or ask your "
                        "cluster's admins" % (argv[0], timeout))
    if out.returncode != 0:
        msg = (out.stderr or out.stdout).strip().splitlines()
        raise UserError("%s: %s" % (" ".join(argv[:1]), msg[-1] if msg else
                                    "exit status %d" % out.returncode))
    return out.stdout


def submit(args, script, script_args, env=None):
    """``sbatch --parsable ARGS SCRIPT SCRIPT_ARGS`` -> the job id (a string); ``env``: the
    environment sbatch runs in, which the task gets (``--export=ALL``)."""
    out = _run(["sbatch", "--parsable"] + list(args) + [script] + list(script_args), env=env)
    job_id = out.strip().split(";")[0]
    if not job_id.isdigit():
        raise UserError("sbatch: unexpected answer %r (expected a job id)" % out.strip())
    return job_id


def queued_jobs():
    """``{job name: job id}`` of this user's jobs still in the queue (pending or running)."""
    out = _run(["squeue", "-h", "-u", getpass.getuser(), "-o", "%i %j",
                "-t", "PENDING,RUNNING,CONFIGURING,REQUEUED,REQUEUE_HOLD,SUSPENDED"])
    jobs = {}
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            jobs[parts[1].strip()] = parts[0].strip()
    return jobs
