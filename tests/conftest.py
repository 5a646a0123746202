"""The whole suite: AWS calls made by functions are checked against their IAM policies (tests/iam)."""

pytest_plugins = ["tests.iam.plugin"]
