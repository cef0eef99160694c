#!/bin/sh
# A compose-free Docker workflow, written for `docker` and run unchanged by
# the test suite with `docker` on PATH pointing at hutch: a user-defined
# network, a named volume, a "db" container restarted on failure, an "app"
# container that reaches it by name, `cp` in and out, and a full teardown.
# IMAGE must have busybox's sh and nc.
set -eu
IMAGE=${IMAGE:-busybox}

docker network create appnet
docker volume create dbdata

# The db serves its greeting to one client, then exits 1: --restart
# on-failure brings it back for the next client.
docker run -d --name db --network appnet --restart on-failure:5 \
    -v dbdata:/data "$IMAGE" \
    sh -c 'test -f /data/greeting || echo hello-from-db > /data/greeting; nc -l -p 5432 < /data/greeting; exit 1'

ask_db() {
    i=0
    while [ $i -lt 50 ]; do
        if out=$(docker run --rm --network appnet "$IMAGE" nc -w 2 db 5432 2>/dev/null) && [ -n "$out" ]; then
            echo "$out"
            return 0
        fi
        i=$((i + 1))
        sleep 0.2
    done
    echo "app never reached db" >&2
    return 1
}

ask_db
ask_db
restarts=$(docker inspect -f '{{.RestartCount}}' db)
[ "$restarts" -ge 1 ] || { echo "db was not restarted ($restarts)" >&2; exit 1; }

echo "a note from the host" > note.txt
docker cp note.txt db:/data/note.txt
docker cp db:/data/note.txt back.txt
cmp note.txt back.txt

docker rm -f db
docker network rm appnet
docker volume rm dbdata
[ -z "$(docker ps -aq)" ] || { echo "containers left behind" >&2; exit 1; }
[ -z "$(docker volume ls -q)" ] || { echo "volumes left behind" >&2; exit 1; }
echo workflow-done
