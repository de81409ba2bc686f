import { Annotations, Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { HttpApi, IHttpRouteAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  HttpJwtAuthorizer,
  HttpLambdaAuthorizer,
  HttpLambdaResponseType,
} from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { type AuthMode, DEFAULT_TENANT_CLAIM, TENANTS_TABLE_KEYS } from '#shared/tenants';
import { MediaFunction } from './constructs/media-function.ts';
import { acknowledge } from './constructs/nag.ts';

/**
 * How long API Gateway keeps a Lambda authorizer's answer for one Authorization value: a revoked key
 * keeps passing for at most this long, and a busy key costs one lookup per this period.
 */
export const AUTHORIZER_RESULT_TTL = Duration.minutes(5);

/** The header that carries `Bearer <key>` (or `Bearer <jwt>`), as API Gateway names an identity source. */
export const AUTHORIZATION_IDENTITY_SOURCE = '$request.header.Authorization';

/** The one line synth prints when the API is left open. */
export const OPEN_API_WARNING =
  'auth is none: every /api route is open to anyone who finds the URL, and every caller is the tenant "default". Use it for local experiments only.';

export interface ApiAuthProps {
  /** `api-key` (a Lambda authorizer over the tenants table), `jwt` (the HTTP API's JWT authorizer) or `none`. */
  readonly mode: AuthMode;
  /** With `jwt`: the issuer's URL (`iss`); API Gateway reads `<issuer>/.well-known/openid-configuration`. */
  readonly jwtIssuer?: string;
  /** With `jwt`: accepted `aud` (or `client_id`) values. */
  readonly jwtAudience?: readonly string[];
  /**
   * With `jwt`: the claim that names the caller's tenant.
   * @default 'sub'
   */
  readonly jwtTenantClaim?: string;
  /** Keep the tenants table (keys and webhook secrets) when the stack is deleted, like the jobs table. */
  readonly retainData: boolean;
  /**
   * Make the HTTP API's authorizer for the mode. Without an HTTP API (LocalStack's variant) there is
   * nothing to authorize routes of: no authorizer, and in `api-key` mode the API function checks keys
   * itself (`configureApiFunction`).
   * @default true
   */
  readonly routeAuthorizer?: boolean;
}

/**
 * Who may call the API: the tenants table (API key hashes, key records and each tenant's webhook signing
 * secrets; functions/shared/tenants.ts), and the HTTP API authorizer of the chosen mode, which every
 * `/api` route gets (lib/upload-api.ts) and the page routes do not. Functions that need the table get
 * its name and a read of single items through the `grant…` methods, which bind the two together.
 */
export class ApiAuth extends Construct {
  readonly mode: AuthMode;
  readonly tenantsTable: Table;
  /** The claim the API function reads the tenant from, in `jwt` mode. */
  readonly tenantClaim: string;
  /** In `api-key` mode: the REQUEST authorizer's function. */
  readonly authorizerFunction?: MediaFunction;
  /** The authorizer of every `/api` route; undefined in `none` mode. */
  readonly authorizer?: IHttpRouteAuthorizer;

  constructor(scope: Construct, id: string, props: ApiAuthProps) {
    super(scope, id);
    this.mode = props.mode;
    this.tenantClaim = props.jwtTenantClaim ?? DEFAULT_TENANT_CLAIM;

    this.tenantsTable = new Table(this, 'TenantsTable', {
      partitionKey: { name: TENANTS_TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    if (props.mode === 'none') {
      Annotations.of(this).addWarningV2('media-pipeline:auth-none', OPEN_API_WARNING);
    }
    switch (props.routeAuthorizer === false ? 'no-routes' : props.mode) {
      case 'no-routes':
      case 'none':
        break;
      case 'api-key': {
        this.authorizerFunction = new MediaFunction(this, 'AuthorizerFunction', {
          source: 'authorizer',
          serviceName: 'media-authorizer',
          description: 'Checks API keys of the media pipeline API against the tenants table',
          timeout: Duration.seconds(5),
          environment: { TENANTS_TABLE: this.tenantsTable.tableName },
        });
        // One GetItem by the key's hash is all it does: it can neither list keys nor write anything.
        this.grantGetItem(this.authorizerFunction);
        this.authorizer = new HttpLambdaAuthorizer('ApiKeyAuthorizer', this.authorizerFunction, {
          authorizerName: 'api-key',
          identitySource: [AUTHORIZATION_IDENTITY_SOURCE],
          responseTypes: [HttpLambdaResponseType.SIMPLE],
          resultsCacheTtl: AUTHORIZER_RESULT_TTL,
        });
        break;
      }
      case 'jwt': {
        if (!props.jwtIssuer || !props.jwtAudience || props.jwtAudience.length === 0) {
          throw new Error(`${this.node.path}: auth jwt needs jwtIssuer and a non-empty jwtAudience`);
        }
        this.authorizer = new HttpJwtAuthorizer('JwtAuthorizer', props.jwtIssuer, {
          authorizerName: 'jwt',
          identitySource: [AUTHORIZATION_IDENTITY_SOURCE],
          jwtAudience: [...props.jwtAudience],
        });
        break;
      }
    }
  }

  /**
   * The API function's side of the mode: AUTH_MODE and TENANT_CLAIM (functions/api/caller.ts). With
   * `checkKeysInFunction` (LocalStack's function URL, which has no authorizer in front of it) the
   * function checks the keys itself: AUTH_IN_FUNCTION, TENANTS_TABLE and the same single-item read
   * the authorizer has.
   */
  configureApiFunction(fn: LambdaFunction, { checkKeysInFunction }: { checkKeysInFunction: boolean }): void {
    fn.addEnvironment('AUTH_MODE', this.mode);
    fn.addEnvironment('TENANT_CLAIM', this.tenantClaim);
    if (checkKeysInFunction && this.mode === 'api-key') {
      fn.addEnvironment('AUTH_IN_FUNCTION', 'true');
      this.grantGetItem(fn);
    }
  }

  /** The webhook function signs each job's webhook with its tenant's secrets, read from this table. */
  grantReadWebhookSecrets(fn: LambdaFunction): void {
    this.grantGetItem(fn);
  }

  /**
   * Without an authorizer (`none`), the `/api` routes are open: acknowledged on the API, with the reason,
   * only in that mode (cdk-nag's AwsSolutions-APIG4 flags every route without authorization).
   */
  acknowledgeOpenRoutes(httpApi: HttpApi | undefined): void {
    if (this.mode !== 'none' || !httpApi) return;
    acknowledge(
      httpApi,
      'AwsSolutions-APIG4',
      'auth is none, chosen explicitly for local experiments: the API has no authorizer and every caller acts as the tenant "default". Deploy with auth api-key or jwt before exposing it.',
    );
  }

  /** TENANTS_TABLE and GetItem on the table itself, together: no Query, Scan, index or write. */
  private grantGetItem(fn: LambdaFunction): void {
    fn.addEnvironment('TENANTS_TABLE', this.tenantsTable.tableName);
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [this.tenantsTable.tableArn] }),
    );
  }
}
