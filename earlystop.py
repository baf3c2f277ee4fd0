"""A stop signal that reaches a second service while it starts (before its live-service check)
writes that service's pid into service_process (mark_process 'stopping'); the check then sees its
own pid and lets it through, and the running service disappears from `status`."""
import sys, subprocess
sys.path.insert(0, "/work/main")
from scheduler import Service, ServiceAlreadyRunning
b = Service("/tmp/review4/w7.yaml", blocking=False)
try:
    b.start()                # without the stop: refused
except ServiceAlreadyRunning as exc:
    print("plain second start:", exc)
b = Service("/tmp/review4/w7.yaml", blocking=False)
b.stop("SIGINT received")    # what on_stop's thread does when Ctrl-C comes during start()
b.start()                    # no ServiceAlreadyRunning now
print("second start after an early stop: exit", b.finish())
print(subprocess.run(["/work/main/.venv/bin/mentionwatch", "--config", "/tmp/review4/w7.yaml", "status"],
                     capture_output=True, text=True).stdout.splitlines()[0])
