#!/bin/bash
# The demo's stand-in function (`make demo`, steps `integration_timeout` and `reserved_concurrency`):
# a Lambda custom runtime in bash, for what no function of the app does on demand (take as long as
# asked, stay busy until told). The demo writes it out as `bootstrap` and registers it with the
# local Lambda service; the app's own functions are Rust binaries (provided.al2023).
#
# Like every custom runtime it loops on the Runtime API: GET invocation/next, handle the event,
# POST invocation/<id>/response. Each event may carry, as JSON strings:
#   "ms":"<n>"          sleep n milliseconds first (an API Gateway event carries it in
#                       queryStringParameters: GET /slow?ms=800);
#   "hold":"<path>"     then wait until a file exists at <path> (the demo decides when it ends);
#   "record":"<path>"   then write the event to <path> (the demo sees that it ran).
# The answer is a Lambda proxy response: {"statusCode":200,"body":"{\"sleptMs\":<n>}"}.
api=${AWS_LAMBDA_RUNTIME_API#http://}
address=${api%%/*}
prefix=/${api#*/}
request() { # method, path under /2018-06-01/runtime/, body
  exec 3<>"/dev/tcp/${address%:*}/${address##*:}"
  printf '%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
    "$1" "$prefix/2018-06-01/runtime/$2" "$address" "${#3}" "$3" >&3
}
field() { # the string value of "$1" in the event, or nothing
  case "$event" in
    *"\"$1\":\""*) local value=${event#*\"$1\":\"}; echo "${value%%\"*}" ;;
  esac
}
while true; do
  request GET invocation/next ""
  id=; length=0
  while IFS= read -r line <&3; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    case "${line,,}" in
      lambda-runtime-aws-request-id:*) id=${line#*: } ;;
      content-length:*) length=${line#*: } ;;
    esac
  done
  IFS= read -r -N "$length" event <&3
  exec 3<&-
  ms=$(field ms); ms=${ms//[^0-9]/}; ms=${ms:-0}
  echo "handling $id: sleeping ${ms} ms"
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  hold=$(field hold)
  if [ -n "$hold" ]; then
    echo "holding until $hold exists"
    while [ ! -e "$hold" ]; do sleep 0.05; done
  fi
  record=$(field record)
  [ -n "$record" ] && printf '%s' "$event" > "$record"
  request POST "invocation/$id/response" "{\"statusCode\":200,\"body\":\"{\\\"sleptMs\\\":$ms}\"}"
  cat <&3 >/dev/null
  exec 3<&-
done
