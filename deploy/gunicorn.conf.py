"""gunicorn settings for the ChimeCast web app: `chimecast-web` (installed), or
`gunicorn -c deploy/gunicorn.conf.py` in a checkout.

The signaling daemon is not run under gunicorn: it is its own gevent server
(`chimecast-signaling`), because it keeps per-process connection state, needs our hardened
WebSocket handler, and drains clients itself on SIGTERM. Run one daemon per core instead
and let nginx spread `/ws` over them (deploy/nginx.conf).
"""

import multiprocessing
import os
import shutil
import tempfile

# The factory, not wsgi.py: wsgi.py exists only in a checkout, the `app` package everywhere.
wsgi_app = "app:create_app()"
bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")

# Sync-style threads, not gevent: Argon2 password hashing is CPU-bound C code that would
# block every request of a gevent worker for ~50 ms. Threads release the GIL inside it.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("GUNICORN_THREADS", 8))

# nginx buffers slow clients, so a request never waits long on the network; 30 s covers
# the slowest legitimate request (a password hash under load) with room to spare.
timeout = 30
# On SIGTERM finish in-flight requests for up to 20 s; matches the Procfile and systemd.
graceful_timeout = 20
keepalive = 5

# gunicorn 27 shares one control socket in $HOME/.gunicorn between instances; a second
# instance would replace and then delete it. We do not use it.
control_socket_disable = True

# Trust X-Forwarded-* only from nginx on this host; the app's own trusted-proxy count
# (CHIMECAST_TRUSTED_PROXIES=1) decides how many X-Forwarded-For hops it believes.
forwarded_allow_ips = "127.0.0.1"

# nginx (or a Heroku-style router) already logs every request, and gunicorn's access log
# costs about a tenth of a small request's CPU. GUNICORN_ACCESSLOG=- logs to stdout again.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss'

# Prometheus: every worker writes its samples here so /metrics sums them. A directory we
# create is ours to delete when the master exits (one set per operator is left alone).
_own_metrics_dir = None
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    _own_metrics_dir = tempfile.mkdtemp(prefix="chimecast-prom-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_metrics_dir


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir is not None:
        shutil.rmtree(_own_metrics_dir, ignore_errors=True)
