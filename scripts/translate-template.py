"""Translates template.yaml into the plain CloudFormation that the SAM transform deploys, offline.

CloudFormation runs the `AWS::Serverless-2016-10-31` transform at deploy time: each
AWS::Serverless::Function becomes a function, its role, a version, the `live` alias, a CodeDeploy
deployment group and permissions; the API becomes a RestApi, a deployment, a stage, an API key and
a usage plan. What IAM, CodeDeploy and API Gateway will actually enforce is only visible in this
output, so the template tests (tests/translated_template.rs) and the cfn-guard rules (policies/)
read it instead of template.yaml.

This runs the same translator as the transform (the `samtranslator` package that the SAM CLI
installs into .venv), without AWS credentials and without calling AWS:
- Every parameter is at its Default unless given as NAME=VALUE on the command line. SAM itself
  resolves only a few parameters (the deployment type, the alias name); everything else stays an
  intrinsic function (`Ref`, `Fn::If`) for CloudFormation to evaluate.
- AWS managed policy ARNs come from the map bundled with samtranslator. `sam validate` would fall
  back to listing IAM's managed policies (iam:ListPolicies, which needs credentials) for a name
  missing from it; here the fallback is a fixed map of the policies this template's
  functions get, and a name found in neither (left as a bare name by SAM) is an error.
- A function's `CodeUri: .` (a local folder, which `sam deploy` uploads) becomes a placeholder S3
  URI, as `sam validate` does: the translator accepts only S3 locations.

Usage: .venv/bin/python scripts/translate-template.py [--template template.yaml]
           [--output target/translated-template.json | --output -] [NAME=VALUE ...]
(`--output -` writes the JSON to standard output.)
"""

import argparse
import json
import logging
import os
import sys
from pathlib import Path

# samtranslator takes the partition from the Region of a default boto3 session: any commercial
# Region will do, nothing is sent to it.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samcli.yamlhelper import yaml_parse  # noqa: E402 (after the Region is set)
from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The translator warns about feature toggles that only exist inside the AWS transform service.
logging.getLogger("samtranslator.feature_toggle").setLevel(logging.ERROR)

# The managed policies SAM attaches to this template's roles, should the bundled map ever lack
# one: basic execution (logs), X-Ray writes (Tracing: Active), the stream and queue pollers.
MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}"
    for name, path in {
        "AWSLambdaBasicExecutionRole": "service-role/AWSLambdaBasicExecutionRole",
        "AWSXrayWriteOnlyAccess": "AWSXrayWriteOnlyAccess",
        "AWSXRayDaemonWriteAccess": "AWSXRayDaemonWriteAccess",
        "AWSLambdaDynamoDBExecutionRole": "service-role/AWSLambdaDynamoDBExecutionRole",
        "AWSLambdaSQSQueueExecutionRole": "service-role/AWSLambdaSQSQueueExecutionRole",
        "AWSCodeDeployRoleForLambda": "service-role/AWSCodeDeployRoleForLambda",
    }.items()
}


class OfflineManagedPolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which lists IAM's policies over the API."""

    def load(self) -> dict[str, str]:
        return MANAGED_POLICIES


def with_placeholder_code_locations(template: dict) -> dict:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            properties = resource.setdefault("Properties", {})
            code = properties.get("CodeUri")
            if isinstance(code, str) and not code.startswith("s3://"):
                properties["CodeUri"] = f"s3://placeholder-artifact-bucket/{logical_id}"
    return template


def parameter_values(assignments: list[str]) -> dict[str, str]:
    values = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name:
            sys.exit(f"expected NAME=VALUE, got {assignment!r}")
        values[name] = value
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--output", type=Path, default=ROOT / "target" / "translated-template.json")
    parser.add_argument("parameters", nargs="*", metavar="NAME=VALUE")
    args = parser.parse_args()

    template = with_placeholder_code_locations(yaml_parse(args.template.read_text()))
    declared = template.get("Parameters", {})
    overrides = parameter_values(args.parameters)
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        sys.exit(f"not parameters of {args.template.name}: {', '.join(unknown)}")
    for name, value in overrides.items():
        allowed = declared[name].get("AllowedValues")
        if allowed is not None and value not in [str(choice) for choice in allowed]:
            sys.exit(f"{name}={value}: not one of its AllowedValues {allowed}")

    try:
        translated = transform(template, overrides, OfflineManagedPolicyLoader())
    except InvalidDocumentException as error:
        causes = "\n".join(f"  {cause.message}" for cause in error.causes)
        sys.exit(f"{args.template.name} does not translate:\n{causes}")

    unresolved = sorted(
        f"{logical_id}: {arn}"
        for logical_id, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
        for arn in resource["Properties"].get("ManagedPolicyArns", [])
        if isinstance(arn, str) and not arn.startswith("arn:")
    )
    if unresolved:
        sys.exit("managed policies without an ARN (add them to MANAGED_POLICIES):\n  " + "\n  ".join(unresolved))

    text = json.dumps(translated, indent=2, sort_keys=True) + "\n"
    if str(args.output) == "-":
        sys.stdout.write(text)
        return
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
