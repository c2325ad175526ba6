#!/usr/bin/env bash
# A canary rehearsal on a deployed stack (exam scenario 15): a real deploy that CodeDeploy shifts
# through the `live` alias of each function, then either rolled back by an alarm or promoted.
#
#   rollback (default): new release -> make deploy (background) -> CodeDeploy InProgress -> the
#       alias splits traffic (10 % on the new version) -> the function's alias errors alarm set to
#       ALARM -> the deployment stops, the alias is back on the old version alone, the stack is
#       UPDATE_ROLLBACK_COMPLETE and make deploy fails.
#   promote: the same release, no alarm -> the deployment succeeds, the alias is wholly on the new
#       version, the stack is UPDATE_COMPLETE.
#
# Why a release label: SAM's AutoPublishAlias publishes a version only when the code changes, so
# the label is compiled into the binaries (ORDERS_RELEASE, shared/src/telemetry/release.rs).
# Every name (function, alarm, deployment group, CodeDeploy application) is read from the stack.
# Needs the AWS CLI and credentials; `make build` and `make deploy` use the SAM CLI of .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_PAGER=""

usage() {
    cat <<'EOF'
usage: scripts/canary-rehearsal.sh [rollback|promote] [options]

A real deploy of a new release to a deployed stack, watched through its CodeDeploy canary.
  rollback   (default) force the function's alias errors alarm into ALARM mid-canary: CodeDeploy
             stops and moves the alias back, CloudFormation rolls the stack back
  promote    no alarm: the canary completes and the alias moves wholly to the new version

options:
  --stack NAME          the stack (default: stack_name of the config env in samconfig.toml)
  --config-env ENV      samconfig.toml environment make deploy uses (default: default, the dev stack)
  --region REGION       AWS Region (default, and the only one make deploy deploys to: region of the
                        config env in samconfig.toml)
  --function NAME       logical id prefix of the function to watch (default: CreateOrder)
  --timeout-seconds N   longest wait of each step (default: 1200)
  --poll-seconds N      time between two looks (default: 15)
  --log-dir DIR         where make deploy's output goes (default: target/canary-rehearsal)
  --dry-run             read the stack, print what would run; build, deploy and alarm nothing
  -h, --help            this text
EOF
}

mode=rollback stack="" config_env=default region="" function=CreateOrder
timeout_seconds=1200 poll_seconds=15 log_dir=target/canary-rehearsal dry_run=false
while [[ $# -gt 0 ]]; do
    case $1 in
        rollback | promote) mode=$1 ;;
        --stack) stack=${2:?--stack needs a name}; shift ;;
        --config-env) config_env=${2:?--config-env needs a name}; shift ;;
        --region) region=${2:?--region needs a name}; shift ;;
        --function) function=${2:?--function needs a logical id prefix}; shift ;;
        --timeout-seconds) timeout_seconds=${2:?--timeout-seconds needs a number}; shift ;;
        --poll-seconds) poll_seconds=${2:?--poll-seconds needs a number}; shift ;;
        --log-dir) log_dir=${2:?--log-dir needs a directory}; shift ;;
        --dry-run) dry_run=true ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; echo "error: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
[[ $timeout_seconds =~ ^[0-9]+$ ]] || { echo "error: --timeout-seconds: not a whole number" >&2; exit 2; }
[[ $poll_seconds =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "error: --poll-seconds: not a number" >&2; exit 2; }

python=.venv/bin/python
[[ -x $python ]] || python=python3

step_name=preflight
fail() {
    echo "canary rehearsal FAILED at step '$step_name': $*" >&2
    if [[ -n ${deploy_pid:-} ]] && kill -0 "$deploy_pid" 2>/dev/null; then
        echo "make deploy (pid $deploy_pid) is still running, and CloudFormation goes on without it: $deploy_log" >&2
    fi
    exit 1
}
# A command that fails where nothing expects it (set -e) still names the step.
trap 'fail "a command failed unexpectedly (line $LINENO)"' ERR
step() {
    step_name=$1
    echo
    echo "==> $1: $2"
}
# A value of the JSON on stdin: `json 'd["Stacks"][0]["StackStatus"]'` (d is the document; further
# arguments are sys.argv[2:]).
json() { "$python" -c 'import json, sys; d = json.load(sys.stdin); v = eval(sys.argv[1]); print("" if v is None else v)' "$@"; }
# The AWS CLI in the stack's Region, JSON out; on failure its message goes to stderr.
aws_json() { aws --region "$region" --output json "$@"; }
# State-changing commands: run, or only printed with --dry-run.
run() {
    if $dry_run; then echo "    would run: $*"; else echo "    \$ $*"; "$@"; fi
}
# Polls `check` (a function that returns 0 when done, 1 to wait, 2 when it went wrong) until the
# step's timeout.
wait_for() {
    local what=$1 check=$2 deadline=$((SECONDS + timeout_seconds)) status
    while true; do
        status=0
        "$check" || status=$?
        case $status in
            0) return 0 ;;
            2) fail "$what: $check_problem" ;;
        esac
        ((SECONDS < deadline)) || fail "no $what within ${timeout_seconds}s (last seen: $check_seen)"
        sleep "$poll_seconds"
    done
}
check_seen="nothing" check_problem=""

# --- preflight: nothing changes before every answer is in -----------------------------------------
step "preflight" "credentials, the stack, its names and its state; nothing changes yet"
command -v aws >/dev/null || fail "no aws command: install the AWS CLI (make venv does not)"
settings=$("$python" -c '
import sys, tomllib
config = tomllib.load(open("samconfig.toml", "rb"))
env = config.get(sys.argv[1])
if env is None:
    sys.exit(f"samconfig.toml has no environment {sys.argv[1]!r}")
glob = env.get("global", {}).get("parameters", {})
deploy = env.get("deploy", {}).get("parameters", {})
print(glob.get("stack_name", ""), glob.get("region", ""), str(deploy.get("confirm_changeset", False)).lower())
' "$config_env") || fail "cannot read samconfig.toml"
read -r config_stack config_region confirm_changeset <<<"$settings"
stack=${stack:-$config_stack}
region=${region:-${config_region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}}
[[ -n $stack && -n $region ]] || fail "no stack or Region: pass --stack and --region"
# make deploy deploys the config env's stack in the config env's Region: the rehearsal watches those.
[[ -z $config_region || $region == "$config_region" ]] ||
    fail "make deploy CONFIG_ENV=$config_env deploys to $config_region, not $region: change region in samconfig.toml"
[[ $stack == "$config_stack" ]] ||
    fail "make deploy CONFIG_ENV=$config_env deploys $config_stack, not $stack: pass the --config-env whose stack_name is $stack"
# In the background, sam deploy cannot ask to confirm a change set (samconfig's prod does).
[[ $confirm_changeset != true ]] ||
    fail "samconfig.toml [$config_env] confirms change sets (confirm_changeset = true): rehearse on a dev stack"

identity=$(aws_json sts get-caller-identity) || fail "no AWS credentials (aws sts get-caller-identity failed)"
echo "    account $(json 'd["Account"]' <<<"$identity") as $(json 'd["Arn"]' <<<"$identity"), Region $region"

stack_json=$(aws_json cloudformation describe-stacks --stack-name "$stack") ||
    fail "no stack $stack in $region (deploy it first: make build deploy)"
stack_status=$(json 'd["Stacks"][0]["StackStatus"]' <<<"$stack_json")
case $stack_status in
    CREATE_COMPLETE | UPDATE_COMPLETE | UPDATE_ROLLBACK_COMPLETE | IMPORT_COMPLETE) ;;
    *) fail "stack $stack is $stack_status: wait for a *_COMPLETE state" ;;
esac
application=$(json '{o["OutputKey"]: o["OutputValue"] for o in d["Stacks"][0].get("Outputs", [])}.get("CodeDeployApplication")' <<<"$stack_json")
[[ -n $application ]] || fail "stack $stack has no CodeDeployApplication output"

resources=$(aws_json cloudformation list-stack-resources --stack-name "$stack") ||
    fail "cannot list the resources of $stack"
physical() {
    json '{r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in d["StackResourceSummaries"]}.get(sys.argv[2], "")' \
        "$1" <<<"$resources"
}
function_name=$(physical "${function}Function")
group=$(physical "${function}FunctionDeploymentGroup")
alarm=$(physical "${function}AliasErrorsAlarm")
[[ -n $function_name ]] || fail "stack $stack has no ${function}Function"
[[ -n $group ]] || fail "stack $stack has no ${function}FunctionDeploymentGroup (no DeploymentPreference?)"
[[ -n $alarm ]] || fail "stack $stack has no ${function}AliasErrorsAlarm"
mapfile -t stack_alarms < <(json '"\n".join(r.get("PhysicalResourceId", "") for r in d["StackResourceSummaries"] if r["ResourceType"] == "AWS::CloudWatch::Alarm")' <<<"$resources")
echo "    CodeDeploy application $application, deployment group $group"
echo "    function $function_name (alias live), its alarm $alarm"

# An alarm already in ALARM would stop the deployment before the rehearsal does.
alarming=$(aws_json cloudwatch describe-alarms --alarm-names "${stack_alarms[@]}" --state-value ALARM |
    json '" ".join(a["AlarmName"] for a in d["MetricAlarms"])') || fail "cannot read the stack's alarms"
[[ -z $alarming ]] || fail "already in ALARM: $alarming (it would stop any deployment; see docs/deploy.md)"
in_progress=$(aws_json deploy list-deployments --application-name "$application" \
    --deployment-group-name "$group" --include-only-statuses InProgress | json '" ".join(d["deployments"])') ||
    fail "cannot list the deployments of $application"
[[ -z $in_progress ]] || fail "a deployment is already in progress: $in_progress"
live=$(aws_json lambda get-alias --function-name "$function_name" --name live) ||
    fail "cannot read the alias live of $function_name"
old_version=$(json 'd["FunctionVersion"]' <<<"$live")
[[ -z $(json '(d.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or ""' <<<"$live") ]] ||
    fail "the alias live of $function_name already splits traffic: a deployment did not finish"
# Built for the architecture the stack runs, so the rehearsal changes the code and nothing else.
architecture=$(aws_json lambda get-function-configuration --function-name "$function_name" |
    json 'd["Architectures"][0]') || fail "cannot read the configuration of $function_name"
echo "    live is on version $old_version ($architecture): the release this rehearsal replaces"

# --- the new release ------------------------------------------------------------------------------
release="rehearsal-$(date -u +%Y%m%dT%H%M%SZ)"
step "build" "release $release compiled in: new bytes, so sam deploy publishes new versions (AutoPublishAlias)"
run env ORDERS_RELEASE="$release" make build ARCH="$architecture" || fail "make build failed"

step "deploy" "make deploy in the background: sam deploy waits for CloudFormation, which waits for CodeDeploy"
mkdir -p "$log_dir"
deploy_log=$log_dir/deploy-$release.log
deploy_pid=""
if $dry_run; then
    echo "    would run: make deploy CONFIG_ENV=$config_env >$deploy_log 2>&1 &"
else
    echo "    \$ make deploy CONFIG_ENV=$config_env >$deploy_log 2>&1 &"
    make deploy CONFIG_ENV="$config_env" </dev/null >"$deploy_log" 2>&1 &
    deploy_pid=$!
fi
# Sets deploy_exit to make deploy's exit status once it has ended (empty while it runs). Called in
# this shell, never in $(...): only this shell can `wait` for its child.
deploy_exit=""
poll_deploy() {
    if [[ -z $deploy_exit ]] && ! kill -0 "$deploy_pid" 2>/dev/null; then
        local status=0
        wait "$deploy_pid" || status=$?
        deploy_exit=$status
    fi
}

if $dry_run; then
    echo
    echo "==> the waits (dry run: not polled)"
    echo "    would poll: aws deploy list-deployments --application-name $application --deployment-group-name $group --include-only-statuses InProgress"
    echo "    would poll: aws lambda get-alias --function-name $function_name --name live"
    [[ $mode == promote ]] ||
        echo "    would run: aws cloudwatch set-alarm-state --alarm-name $alarm --state-value ALARM --state-reason \"canary rehearsal\""
    echo "    would poll: aws deploy get-deployment --deployment-id <id>"
    echo "    would poll: aws cloudformation describe-stacks --stack-name $stack"
    echo
    echo "dry run: nothing was built, deployed or alarmed"
    exit 0
fi

# --- CodeDeploy takes over ------------------------------------------------------------------------
step "deployment started" "CloudFormation hands the alias update to CodeDeploy (UpdatePolicy CodeDeployLambdaAliasUpdate)"
deployment=""
deployment_started() {
    local ids
    ids=$(aws_json deploy list-deployments --application-name "$application" --deployment-group-name "$group" \
        --include-only-statuses InProgress | json '" ".join(d["deployments"])') || return 1
    check_seen="deployments in progress: ${ids:-none}"
    if [[ -n $ids ]]; then
        deployment=${ids%% *}
        return 0
    fi
    poll_deploy
    check_problem="make deploy exited $deploy_exit before CodeDeploy started a deployment (no new version of the function?): see $deploy_log"
    [[ -z $deploy_exit ]] || return 2
    return 1
}
wait_for "CodeDeploy deployment of $group" deployment_started
echo "    deployment $deployment is InProgress"

step "canary traffic" "the PreTraffic hook passed (BeforeAllowTraffic runs before any shift), then 10 % goes to the new version"
alias_json="" new_version=""
alias_split() {
    alias_json=$(aws_json lambda get-alias --function-name "$function_name" --name live) || return 1
    new_version=$(json 'next(iter(((d.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})), "")' <<<"$alias_json")
    check_seen="alias on version $(json 'd["FunctionVersion"]' <<<"$alias_json"), no weights yet"
    [[ -z $new_version ]] || return 0
    local status
    status=$(aws_json deploy get-deployment --deployment-id "$deployment" | json 'd["deploymentInfo"]["status"]') || return 1
    check_problem="deployment $deployment is $status before any traffic shifted (the PreTraffic hook failed? make logs FN=pre-traffic-check)"
    case $status in Failed | Stopped | Succeeded) return 2 ;; esac
    return 1
}
wait_for "weighted alias on $function_name" alias_split
while IFS= read -r line; do echo "    $line"; done <<<"$alias_json"
echo "    live: version $(json 'd["FunctionVersion"]' <<<"$alias_json") keeps the rest, version $new_version gets $(json 'd["RoutingConfig"]["AdditionalVersionWeights"][sys.argv[2]]' "$new_version" <<<"$alias_json")"

deployment_status=""
read_deployment() {
    local info
    info=$(aws_json deploy get-deployment --deployment-id "$deployment") || return 1
    deployment_status=$(json 'd["deploymentInfo"]["status"]' <<<"$info")
    deployment_detail=$(json '(d["deploymentInfo"].get("errorInformation") or {}).get("message", "")' <<<"$info")
    check_seen="deployment $deployment $deployment_status"
}
# The alias is on `version` alone (no RoutingConfig weights).
alias_wholly_on() {
    local version=$1 json_alias
    json_alias=$(aws_json lambda get-alias --function-name "$function_name" --name live) || return 1
    check_seen="alias on version $(json 'd["FunctionVersion"]' <<<"$json_alias"), weights $(json '(d.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or "none"' <<<"$json_alias")"
    [[ $(json 'd["FunctionVersion"]' <<<"$json_alias") == "$version" ]] &&
        [[ -z $(json '(d.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or ""' <<<"$json_alias") ]]
}
stack_in() {
    local wanted=$1 status
    status=$(aws_json cloudformation describe-stacks --stack-name "$stack" | json 'd["Stacks"][0]["StackStatus"]') || return 1
    check_seen="stack $status"
    [[ $status != "$wanted" ]] || return 0
    check_problem="stack $stack is $status, not $wanted"
    case $status in *_IN_PROGRESS) return 1 ;; esac
    return 2
}

if [[ $mode == rollback ]]; then
    step "alarm" "Exam: set-alarm-state is the documented way to test an alarm; one of the group's alarms in ALARM stops the deployment"
    run aws --region "$region" cloudwatch set-alarm-state --alarm-name "$alarm" --state-value ALARM \
        --state-reason "canary rehearsal" || fail "set-alarm-state failed"

    step "deployment stopped" "CodeDeploy stops on the alarm (DEPLOYMENT_STOP_ON_ALARM) and rolls back"
    deployment_ended() {
        read_deployment || return 1
        case $deployment_status in
            Stopped | Failed) return 0 ;;
            Succeeded) check_problem="deployment $deployment succeeded despite the alarm"; return 2 ;;
        esac
        # With no errors coming, CloudWatch returns the alarm to OK at its next evaluation (every
        # minute): keep it in ALARM until CodeDeploy has seen it.
        aws --region "$region" cloudwatch set-alarm-state --alarm-name "$alarm" --state-value ALARM \
            --state-reason "canary rehearsal" >/dev/null || true
        return 1
    }
    wait_for "stop of deployment $deployment" deployment_ended
    echo "    deployment $deployment is $deployment_status: ${deployment_detail:-no error message}"

    step "alias rolled back" "the alias is back on version $old_version alone: the new version gets no traffic"
    alias_back() { alias_wholly_on "$old_version"; }
    wait_for "alias back on version $old_version" alias_back
    echo "    live: version $old_version, no routing config"

    step "stack rolled back" "CloudFormation failed the update on the alias and rolled the whole stack back"
    stack_rolled_back() { stack_in UPDATE_ROLLBACK_COMPLETE; }
    wait_for "UPDATE_ROLLBACK_COMPLETE of $stack" stack_rolled_back
    echo "    stack $stack is UPDATE_ROLLBACK_COMPLETE"
    expected_exit=failure
else
    step "deployment succeeded" "no alarm: CodeDeploy moves the remaining 90 % after the canary's wait"
    deployment_succeeded() {
        read_deployment || return 1
        case $deployment_status in
            Succeeded) return 0 ;;
            Stopped | Failed)
                check_problem="deployment $deployment is $deployment_status: ${deployment_detail:-no message}"
                return 2
                ;;
        esac
        return 1
    }
    wait_for "success of deployment $deployment" deployment_succeeded
    echo "    deployment $deployment Succeeded"

    step "alias promoted" "the alias is wholly on version $new_version"
    alias_promoted() { alias_wholly_on "$new_version"; }
    wait_for "alias wholly on version $new_version" alias_promoted
    echo "    live: version $new_version, no routing config"

    step "stack updated" "CloudFormation completes the update"
    stack_updated() { stack_in UPDATE_COMPLETE; }
    wait_for "UPDATE_COMPLETE of $stack" stack_updated
    echo "    stack $stack is UPDATE_COMPLETE"
    expected_exit=success
fi

step "make deploy ended" "sam deploy reports the outcome: $expected_exit expected"
deploy_ended() {
    check_seen="make deploy still running"
    poll_deploy
    [[ -n $deploy_exit ]]
}
wait_for "end of make deploy" deploy_ended
if [[ $expected_exit == failure ]]; then
    [[ $deploy_exit != 0 ]] || fail "make deploy exited 0 though the stack rolled back: see $deploy_log"
else
    [[ $deploy_exit == 0 ]] || fail "make deploy exited $deploy_exit: see $deploy_log"
fi
echo "    make deploy exited $deploy_exit (log: $deploy_log)"
echo
if [[ $mode == rollback ]]; then
    echo "canary rehearsal passed: release $release was rolled back by alarm $alarm (it returns to OK by itself)"
else
    echo "canary rehearsal passed: release $release is live on version $new_version of $function_name"
fi
