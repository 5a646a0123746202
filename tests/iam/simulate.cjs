// Evaluates IAM requests against identity policies with @cloud-copilot/iam-simulate.
// stdin: {"policies": {name: policy}, "requests": [{"id", "policy", "action", "resource", "context"}]}
// stdout: [{"id", "result", "errors"}]; result is Allowed, ImplicitlyDenied or ExplicitlyDenied.
const { runSimulation } = require('@cloud-copilot/iam-simulate');

const ACCOUNT = '123456789012';

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const results = [];
  for (const request of input.requests) {
    const outcome = await runSimulation(
      {
        request: {
          principal: `arn:aws:iam::${ACCOUNT}:role/${request.policy}`,
          action: request.action,
          resource: { resource: request.resource, accountId: ACCOUNT },
          contextVariables: request.context,
        },
        identityPolicies: [{ name: request.policy, policy: input.policies[request.policy] }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );
    results.push({
      id: request.id,
      result: outcome.errors ? null : outcome.overallResult,
      errors: outcome.errors ? outcome.errors : null,
    });
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
