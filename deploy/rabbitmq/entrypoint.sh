#!/usr/bin/env bash
# The broker container's entrypoint in docker-compose.yml: starts RabbitMQ as the image does,
# then makes Warren's vhost and users (setup-users.sh, next to this file) and only then says so in
# /tmp/warren-users-ready, which the health check looks for: no Warren process starts before its
# user exists. Stopping the container stops the broker.
set -euo pipefail

ready=/tmp/warren-users-ready
rm -f "$ready"

docker-entrypoint.sh rabbitmq-server &
server=$!
trap 'kill -TERM "$server" 2>/dev/null || true' TERM INT

# rabbitmqctl finds the broker's Erlang cookie in $HOME once the broker has made it; run before
# that, it would make one of its own that the broker cannot read.
until [[ -s "$HOME/.erlang.cookie" ]] && rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1; do
  if ! kill -0 "$server" 2>/dev/null; then
    wait "$server"
    exit $?
  fi
  sleep 1
done

failed=false
if bash "$(dirname "$0")/setup-users.sh"; then
  touch "$ready"
else
  echo "error: setting up Warren's broker users failed; stopping the broker" >&2
  failed=true
  kill -TERM "$server"
fi

status=0
wait "$server" || status=$?
# A signal ends the first wait early: wait for the broker to finish stopping.
if kill -0 "$server" 2>/dev/null; then
  wait "$server" || status=$?
fi
if $failed; then
  exit 1
fi
exit "$status"
