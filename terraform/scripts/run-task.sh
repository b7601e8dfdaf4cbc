#!/usr/bin/env bash
# Runs one of the deployment's one-off tasks and waits for it: exits 0 only if the task's
# container exited 0.
#   run-task.sh migrate        `shopfleet migrate`: platform, then tenant migrations
#   run-task.sh db-bootstrap   creates the application's PostgreSQL role and database (once)
# Reads the cluster, task definition and network settings from `terraform output`, so run it
# from an initialised terraform/ working directory (or set TF_DIR). Needs the AWS CLI.
set -euo pipefail

which=${1:?usage: run-task.sh migrate|db-bootstrap}
cd "${TF_DIR:-$(dirname "$0")/..}"

case "$which" in
  migrate) output=migrate_task_definition_arn prefix=shopfleet/shopfleet ;;
  db-bootstrap) output=db_bootstrap_task_definition_arn prefix=db-bootstrap/db-bootstrap ;;
  *) echo "usage: run-task.sh migrate|db-bootstrap" >&2; exit 2 ;;
esac

cluster=$(terraform output -raw cluster_name)
task_definition=$(terraform output -raw "$output")
network=$(terraform output -raw run_task_network_configuration)
log_group=$(terraform output -raw log_group_name)

task=$(aws ecs run-task --cluster "$cluster" --launch-type FARGATE \
  --task-definition "$task_definition" --network-configuration "$network" \
  --started-by "run-task.sh" --query 'tasks[0].taskArn' --output text)
if [ -z "$task" ] || [ "$task" = None ]; then
  echo "$which: the task did not start" >&2
  exit 1
fi
echo "$which: task ${task##*/} started; logs in $log_group, stream $prefix/${task##*/}"

# Polled rather than `aws ecs wait tasks-stopped`, which gives up after 10 minutes: migrating
# a large fleet takes longer.
while :; do
  status=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" \
    --query 'tasks[0].lastStatus' --output text)
  [ "$status" = STOPPED ] && break
  sleep 10
done

exit_code=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" \
  --query 'tasks[0].containers[0].exitCode' --output text)
if [ "$exit_code" != 0 ]; then
  reason=$(aws ecs describe-tasks --cluster "$cluster" --tasks "$task" \
    --query 'tasks[0].stoppedReason' --output text)
  echo "$which: failed (exit code $exit_code; $reason). Logs:" >&2
  aws logs tail "$log_group" --log-stream-names "$prefix/${task##*/}" >&2 || true
  exit 1
fi
echo "$which: done"
