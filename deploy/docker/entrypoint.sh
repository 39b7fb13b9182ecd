#!/bin/sh
# Start one role of the ltrnn image. The first argument names the role; the remaining
# arguments go to the command that the role runs. Settings come from LTRNN_* environment
# variables (see docs/configuration.md) or from the options passed here.
#
# Each role replaces this shell (exec), so SIGTERM from the container runtime reaches the
# server directly and its grace period applies.
set -eu

usage() {
    cat <<'EOF'
usage: ltrnn-entrypoint ROLE [ARGS...]

roles:
  all                      fit and analysis services in one process (ltrnn serve)
  fit                      fit service only (ltrnn serve-fit)
  analysis                 analysis service only (ltrnn serve-analysis)
  ray-head                 Ray head node: ray start --head --block, GCS port 6379,
                           Ray Client port 10001, dashboard on 0.0.0.0:8265
  ray-worker HOST:PORT     Ray worker node joining the head's GCS at HOST:PORT
                           (ray start --block --address=HOST:PORT)
  healthcheck              gRPC health check of the local server (ltrnn-healthcheck)
  ltrnn|ray|python|sh|bash run that program with ARGS

Options that start with '-' in place of a role are passed to `ltrnn serve`.
EOF
}

if [ "$#" -eq 0 ]; then
    set -- all
fi

role="$1"
shift

case "$role" in
    all | serve)
        exec ltrnn serve "$@"
        ;;
    fit)
        exec ltrnn serve-fit "$@"
        ;;
    analysis)
        exec ltrnn serve-analysis "$@"
        ;;
    ray-head)
        exec ray start --head --block --port=6379 --ray-client-server-port=10001 \
            --dashboard-host=0.0.0.0 "$@"
        ;;
    ray-worker)
        if [ "$#" -eq 0 ]; then
            echo "ltrnn-entrypoint: role ray-worker needs the head's GCS address HOST:PORT" \
                "as its first argument, for example: ray-worker ray-head:6379" >&2
            exit 64
        fi
        address="$1"
        shift
        exec ray start --block --address="$address" "$@"
        ;;
    healthcheck)
        exec ltrnn-healthcheck "$@"
        ;;
    ltrnn | ray | python | python3 | sh | bash)
        exec "$role" "$@"
        ;;
    -h | --help | help)
        usage
        ;;
    -*)
        exec ltrnn serve "$role" "$@"
        ;;
    *)
        echo "ltrnn-entrypoint: unknown role '$role'; expected one of: all, fit, analysis," \
            "ray-head, ray-worker, healthcheck, ltrnn, ray, python, sh, bash" >&2
        exit 64
        ;;
esac
