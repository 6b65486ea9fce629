#!/usr/bin/env bash
# Creates Warren's vhost and one broker user per process, each allowed the queues and exchanges it
# uses and nothing else (docs/operations.md, "Securing the broker"). Safe to run again: a user that
# exists gets the given password, and every user's permissions are set anew.
#
#   WARREN_AMQP_PASSWORD_GATEWAY=... WARREN_AMQP_PASSWORD_AUTH=... (one per user) \
#     deploy/rabbitmq/setup-users.sh
#
# Settings, from the environment:
#   WARREN_BROKER_VHOST           the vhost (default: warren)
#   WARREN_BROKER_USER_PREFIX     before each user's name (default: warren-, so warren-gateway, ...)
#   WARREN_AMQP_PASSWORD_<USER>   each user's password, required, for GATEWAY, AUTH, ACCOUNTS,
#                                 SESSIONS, ROOMS, PRIVATE_ROOMS and MATCHMAKER. It goes into the
#                                 services' amqp:// URLs: keep to letters and digits
#                                 (openssl rand -hex 24).
#   WARREN_BROKER_ADMIN_PASSWORD  when set, also <prefix>admin: administrator (management UI),
#                                 every permission on the vhost
#   WARREN_BROKER_DELETE_GUEST    yes: delete the guest user (default: no)
#   RABBITMQCTL                   how to run rabbitmqctl (default: rabbitmqctl), e.g.
#                                 "docker compose exec -T rabbitmq rabbitmqctl"
#
# Permissions are regular expressions on names, each user's configure / write / read:
# configure declares queues and exchanges, write publishes to an exchange and binds a queue, read
# consumes a queue and binds from an exchange. Requests and replies go through the default
# exchange (amq.default). Service <s> serves <s>.rpc and publishes on <s>.events; the gateway's
# subscription is a server-named queue (amq.gen-...); sessions instances also own
# sessions@<instance>.rpc queues, routed from sessions.route, whose alternate exchange
# sessions.unrouted feeds sessions.rpc.
set -euo pipefail

vhost="${WARREN_BROKER_VHOST:-warren}"
prefix="${WARREN_BROKER_USER_PREFIX:-warren-}"
read -r -a ctl <<<"${RABBITMQCTL:-rabbitmqctl}"

say() { printf '==> %s\n' "$*"; }
broker() { "${ctl[@]}" -q "$@"; }

# user  password-variable  configure  write  read
users=(
  "gateway" "WARREN_AMQP_PASSWORD_GATEWAY"
  '^(amq\.gen-.*|(auth|accounts|rooms|private_rooms|matchmaker|sessions|gateway)\.events|sessions\.(route|unrouted))$'
  '^(amq\.default|amq\.gen-.*|gateway\.events|sessions\.(route|unrouted))$'
  '^(amq\.gen-.*|(auth|accounts|rooms|private_rooms|matchmaker|sessions)\.events|sessions\.route)$'

  "auth" "WARREN_AMQP_PASSWORD_AUTH"
  '^auth\.(rpc|events)$'
  '^(amq\.default|auth\.events)$'
  '^auth\.rpc$'

  "accounts" "WARREN_AMQP_PASSWORD_ACCOUNTS"
  '^(accounts\.(rpc|events|results)|sessions\.results\.events)$'
  '^(amq\.default|accounts\.(events|results))$'
  '^(accounts\.(rpc|results)|sessions\.results\.events)$'

  "sessions" "WARREN_AMQP_PASSWORD_SESSIONS"
  '^(sessions\.(rpc|events|results\.events|route|unrouted|presence)|sessions@.+\.rpc|gateway\.events)$'
  '^(amq\.default|sessions\.(rpc|events|results\.events|unrouted|presence)|sessions@.+\.rpc)$'
  '^(sessions\.(rpc|route|unrouted|presence)|sessions@.+\.rpc|gateway\.events)$'

  "rooms" "WARREN_AMQP_PASSWORD_ROOMS"
  '^rooms\.(rpc|events)$'
  '^(amq\.default|rooms\.events)$'
  '^rooms\.rpc$'

  "private-rooms" "WARREN_AMQP_PASSWORD_PRIVATE_ROOMS"
  '^private_rooms\.(rpc|events)$'
  '^(amq\.default|private_rooms\.events)$'
  '^private_rooms\.rpc$'

  "matchmaker" "WARREN_AMQP_PASSWORD_MATCHMAKER"
  '^(matchmaker\.(rpc|events|presence)|gateway\.events)$'
  '^(amq\.default|matchmaker\.(events|presence))$'
  '^(matchmaker\.(rpc|presence)|gateway\.events)$'
)

missing=()
for ((i = 0; i < ${#users[@]}; i += 5)); do
  [[ -n "${!users[i + 1]:-}" ]] || missing+=("${users[i + 1]}")
done
if ((${#missing[@]})); then
  echo "error: set ${missing[*]}" >&2
  exit 1
fi

existing_users="$(broker list_users --no-table-headers | cut -f1)"
existing_vhosts="$(broker list_vhosts --no-table-headers)"

# Creates user $1 with password $2, or sets the password of the user that exists.
set_user() {
  if grep -qxF -- "$1" <<<"$existing_users"; then
    say "user $1: setting its password"
    printf '%s' "$2" | broker change_password "$1" >/dev/null
  else
    say "user $1: creating it"
    printf '%s' "$2" | broker add_user "$1" >/dev/null
  fi
}

if grep -qxF -- "$vhost" <<<"$existing_vhosts"; then
  say "vhost $vhost: there already"
else
  say "vhost $vhost: creating it"
  broker add_vhost "$vhost" >/dev/null
fi

for ((i = 0; i < ${#users[@]}; i += 5)); do
  user="$prefix${users[i]}"
  set_user "$user" "${!users[i + 1]}"
  broker set_permissions -p "$vhost" "$user" "${users[i + 2]}" "${users[i + 3]}" "${users[i + 4]}" >/dev/null
done

if [[ -n "${WARREN_BROKER_ADMIN_PASSWORD:-}" ]]; then
  set_user "${prefix}admin" "$WARREN_BROKER_ADMIN_PASSWORD"
  broker set_user_tags "${prefix}admin" administrator >/dev/null
  broker set_permissions -p "$vhost" "${prefix}admin" '.*' '.*' '.*' >/dev/null
fi

if [[ "${WARREN_BROKER_DELETE_GUEST:-no}" == yes ]] && grep -qxF guest <<<"$existing_users"; then
  say "user guest: deleting it"
  broker delete_user guest >/dev/null
fi

say "broker users ready in vhost $vhost"
