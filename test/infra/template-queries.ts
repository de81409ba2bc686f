import type { Template } from 'aws-cdk-lib/assertions';

/** A resource of a synthesized CloudFormation template, as JSON. */
export interface TemplateResource {
  readonly Type: string;
  /** Empty when the resource has none. */
  readonly Properties: Record<string, unknown>;
  readonly DeletionPolicy?: string;
  readonly UpdateReplacePolicy?: string;
}

export interface PolicyStatementJson {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}

/** Read-only questions about a synthesized template that the assertions library does not answer directly. */
export class TemplateQueries {
  readonly resources: Readonly<Record<string, TemplateResource>>;

  constructor(template: Template) {
    const { Resources } = template.toJSON() as { Resources: Record<string, Partial<TemplateResource>> };
    this.resources = Object.fromEntries(
      Object.entries(Resources).map(([id, resource]) => [
        id,
        { ...resource, Type: String(resource.Type), Properties: resource.Properties ?? {} },
      ]),
    );
  }

  /** [logicalId, resource] of every resource of a type. */
  ofType(type: string): [string, TemplateResource][] {
    return Object.entries(this.resources).filter(([, resource]) => resource.Type === type);
  }

  get(logicalId: string): TemplateResource {
    const resource = this.resources[logicalId];
    if (!resource) throw new Error(`no resource ${logicalId} in the template`);
    return resource;
  }

  /** The functions of the project, keyed by their POWERTOOLS_SERVICE_NAME. */
  projectFunctions(): Map<string, { logicalId: string; properties: Record<string, unknown> }> {
    const functions = new Map<string, { logicalId: string; properties: Record<string, unknown> }>();
    for (const [logicalId, resource] of this.ofType('AWS::Lambda::Function')) {
      const { Properties: properties } = resource;
      const service = environmentOf(properties).POWERTOOLS_SERVICE_NAME;
      if (typeof service === 'string') functions.set(service, { logicalId, properties });
    }
    return functions;
  }

  /** The function with this POWERTOOLS_SERVICE_NAME. */
  projectFunction(service: string): { logicalId: string; properties: Record<string, unknown> } {
    const fn = this.projectFunctions().get(service);
    if (!fn) throw new Error(`no function with POWERTOOLS_SERVICE_NAME=${service}`);
    return fn;
  }

  /** Every statement of every IAM policy attached to the function's execution role. */
  statementsOf(service: string): PolicyStatementJson[] {
    const role = this.projectFunction(service).properties.Role as { 'Fn::GetAtt': [string, string] };
    const roleId = role['Fn::GetAtt'][0];
    return this.ofType('AWS::IAM::Policy')
      .filter(([, policy]) => references(policy.Properties.Roles, roleId))
      .flatMap(
        ([, policy]) => (policy.Properties.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement,
      );
  }

  /** The statements of the function's role that allow `action` on something that refers to `logicalId`. */
  grants(service: string, action: string, logicalId: string): PolicyStatementJson[] {
    return this.statementsOf(service).filter(
      (statement) =>
        statement.Effect === 'Allow' &&
        actionsOf(statement).includes(action) &&
        references(statement.Resource, logicalId),
    );
  }
}

export const environmentOf = (functionProperties: Record<string, unknown>): Record<string, unknown> =>
  (functionProperties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};

export const actionsOf = (statement: PolicyStatementJson): string[] =>
  Array.isArray(statement.Action) ? statement.Action : [statement.Action];

/** Whether an intrinsic-laden value (Ref, Fn::GetAtt, Fn::Join...) mentions the resource `logicalId`. */
export const references = (value: unknown, logicalId: string): boolean =>
  JSON.stringify(value ?? null).includes(`"${logicalId}"`);

/** The logical id inside `{ Ref: id }` or `{ 'Fn::GetAtt': [id, attribute] }`. */
export const referencedId = (value: unknown): string => {
  const intrinsic = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  const id = intrinsic.Ref ?? intrinsic['Fn::GetAtt']?.[0];
  if (!id) throw new Error(`not a Ref or Fn::GetAtt: ${JSON.stringify(value)}`);
  return id;
};
