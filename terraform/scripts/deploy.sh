#!/usr/bin/env bash
# Deploys a new shopfleet image, migrations first:
#   1. terraform apply with migrate_image_tag=TAG: only the migrate task definition changes;
#      the service keeps running the current image_tag;
#   2. runs the migrate task (`shopfleet migrate`) and stops here unless it exits 0;
#   3. terraform apply with image_tag=TAG: ECS rolls the service over to the new image (new
#      tasks must pass the health check before old ones stop; the circuit breaker rolls back
#      a deployment whose tasks never get healthy), then waits until the service is stable.
# Usage: scripts/deploy.sh TAG [terraform apply options, e.g. -var-file=production.tfvars]
# Needs terraform, the AWS CLI and an initialised working directory. Afterwards, set
# image_tag = "TAG" wherever your variables live (or TF_VAR_image_tag in CI): an apply with the
# old tag would roll the service back to it.
set -euo pipefail

tag=${1:?usage: deploy.sh TAG [terraform apply options]}
shift
cd "$(dirname "$0")/.."

current=$(terraform output -raw image_tag)
echo "==> running $current, deploying $tag"

echo "==> 1/3 migrate task definition on $tag"
terraform apply -input=false -auto-approve "$@" -var "image_tag=$current" -var "migrate_image_tag=$tag"

echo "==> 2/3 migrations"
TF_DIR=. bash scripts/run-task.sh migrate

echo "==> 3/3 service on $tag"
terraform apply -input=false -auto-approve "$@" -var "image_tag=$tag" -var "migrate_image_tag=$tag"
aws ecs wait services-stable --cluster "$(terraform output -raw cluster_name)" \
  --services "$(terraform output -raw service_name)"
echo "==> $tag deployed; set image_tag = \"$tag\" in your variables"
