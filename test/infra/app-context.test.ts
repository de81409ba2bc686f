import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { defineMediaPipeline, settingsFromContext } from '#lib/app';
import { cdkJsonContext, testApp } from './synthesize.ts';
import { environmentOf, TemplateQueries } from './template-queries.ts';

const settingsFor = (context: Record<string, unknown>) => settingsFromContext(new App({ context }).node);

describe('settingsFromContext', () => {
  it('reads the settings cdk.json gives, which are the stack’s defaults', () => {
    // Act
    const settings = settingsFor(cdkJsonContext());
    // Assess
    expect(settings).toEqual({
      allowedOrigins: ['*'],
      maxAttempts: 3,
      maxRetries: 3,
      webhookMaxAttempts: 8,
      allowLoopbackCallbacks: false,
      callbackPorts: [80, 443, 8080, 8443],
      retainData: true,
      multipartThresholdBytes: 100 * 1024 * 1024,
      auth: 'api-key',
      quotaJobsPerDay: 1000,
      quotaBytesPerDay: 50 * 1024 ** 3,
    });
  });

  it('leaves out what the context does not set, so the stack’s defaults apply', () => {
    // Act
    const settings = settingsFor({});
    // Assess
    expect(settings).toEqual({});
  });

  it('reads command-line strings (-c key=value) as what they mean', () => {
    // Act
    const settings = settingsFor({
      allowedOrigins: 'https://app.example.com, http://localhost:5173',
      maxAttempts: '5',
      maxRetries: '0',
      webhookMaxAttempts: '12',
      allowLoopbackCallbacks: 'true',
      callbackPorts: '443, 8443',
      retainData: 'false',
      multipartThresholdBytes: '8388608',
      auth: 'jwt',
      jwtIssuer: 'https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_AbCdEf',
      jwtAudience: 'app-client, cli-client',
      jwtTenantClaim: 'custom:tenant',
      quotaJobsPerDay: '0',
      quotaBytesPerDay: '1073741824',
    });
    // Assess
    expect(settings).toEqual({
      allowedOrigins: ['https://app.example.com', 'http://localhost:5173'],
      maxAttempts: 5,
      maxRetries: 0,
      webhookMaxAttempts: 12,
      allowLoopbackCallbacks: true,
      callbackPorts: [443, 8443],
      retainData: false,
      multipartThresholdBytes: 8 * 1024 * 1024,
      auth: 'jwt',
      jwtIssuer: 'https://cognito-idp.eu-west-3.amazonaws.com/eu-west-3_AbCdEf',
      jwtAudience: ['app-client', 'cli-client'],
      jwtTenantClaim: 'custom:tenant',
      quotaJobsPerDay: 0,
      quotaBytesPerDay: 1024 ** 3,
    });
  });

  it('reads a JSON list of callback ports given on the command line', () => {
    expect(settingsFor({ callbackPorts: '[443]' }).callbackPorts).toEqual([443]);
  });

  it('reads a JSON list of JWT audiences given on the command line, and a list in cdk.json', () => {
    // Prepare
    const jwt = { auth: 'jwt', jwtIssuer: 'https://issuer.example.com' };
    // Act / Assess
    expect(settingsFor({ ...jwt, jwtAudience: '["a","b"]' }).jwtAudience).toEqual(['a', 'b']);
    expect(settingsFor({ ...jwt, jwtAudience: ['a'] }).jwtAudience).toEqual(['a']);
  });

  it('takes an http issuer on this machine in a local run only (API Gateway could not reach it)', () => {
    // Act
    const settings = settingsFor({ allowLoopbackCallbacks: true, jwtIssuer: 'http://127.0.0.1:9999' });
    // Assess
    expect(settings.jwtIssuer).toBe('http://127.0.0.1:9999');
    expect(() => settingsFor({ allowLoopbackCallbacks: true, jwtIssuer: 'http://10.0.0.5' })).toThrow(
      /https URL/,
    );
  });

  it('reads a JSON list of origins given on the command line', () => {
    // Act
    const settings = settingsFor({ allowedOrigins: '["https://a.example.com","https://b.example.com"]' });
    // Assess
    expect(settings.allowedOrigins).toEqual(['https://a.example.com', 'https://b.example.com']);
  });

  it.each([
    [{ maxAttempts: 0 }, /maxAttempts must be an integer from 1 to 20/],
    [{ maxAttempts: 'three' }, /maxAttempts must be an integer/],
    [{ webhookMaxAttempts: 2.5 }, /webhookMaxAttempts must be an integer/],
    // A longer schedule would outlast SQS's 14-day retention (lib/retry-budgets.ts).
    [{ webhookMaxAttempts: '18' }, /webhookMaxAttempts must be an integer from 1 to 17/],
    [{ retainData: 'yes' }, /retainData must be true or false/],
    [{ allowLoopbackCallbacks: 1 }, /allowLoopbackCallbacks must be true or false/],
    [{ allowedOrigins: [] }, /allowedOrigins must be a non-empty list/],
    [{ callbackPorts: [] }, /callbackPorts must be a non-empty list of TCP ports from 1 to 65535/],
    [{ callbackPorts: [443, 70000] }, /callbackPorts must be a non-empty list of TCP ports/],
    [{ callbackPorts: ['443'] }, /callbackPorts must be a non-empty list of TCP ports/],
    [{ callbackPorts: '443,https' }, /callbackPorts must be a non-empty list of TCP ports/],
    [{ callbackPorts: '0' }, /callbackPorts must be a non-empty list of TCP ports/],
    [
      { multipartThresholdBytes: 1024 },
      /multipartThresholdBytes must be an integer from 5242880 to 5368709120/,
    ],
    [{ multipartThresholdBytes: 6 * 1024 ** 3 }, /multipartThresholdBytes must be an integer/],
    [{ allowedOrigins: ['https://app.example.com/path'] }, /is not an origin/],
    [{ auth: 'apikey' }, /context auth must be one of api-key, jwt, none .*not "apikey"/],
    [{ auth: 'jwt' }, /context auth jwt needs jwtIssuer .* and jwtAudience/],
    [{ auth: 'jwt', jwtIssuer: 'https://issuer.example.com' }, /auth jwt needs jwtIssuer .* and jwtAudience/],
    [{ jwtIssuer: 'http://issuer.example.com' }, /context jwtIssuer must be the issuer's https URL/],
    [{ jwtIssuer: 'issuer.example.com' }, /context jwtIssuer must be the issuer's https URL/],
    // A loopback issuer only in a local run (allowLoopbackCallbacks, which the local runtime sets).
    [{ jwtIssuer: 'http://127.0.0.1:9999' }, /context jwtIssuer must be the issuer's https URL/],
    [{ jwtAudience: [] }, /context jwtAudience must be a non-empty list of audiences/],
    [{ jwtAudience: '[1]' }, /context jwtAudience must be a non-empty list/],
    [{ jwtAudience: '[broken' }, /context jwtAudience must be a non-empty list/],
    [{ jwtTenantClaim: '' }, /context jwtTenantClaim must be the name of a JWT claim/],
    [{ jwtTenantClaim: 'has space' }, /context jwtTenantClaim must be the name of a JWT claim/],
    [
      { quotaJobsPerDay: -1 },
      /context quotaJobsPerDay must be an integer of 0 or more \(0 turns the quota off\)/,
    ],
    [{ quotaBytesPerDay: '1.5' }, /context quotaBytesPerDay must be an integer of 0 or more/],
    [{ quotaBytesPerDay: 'lots' }, /context quotaBytesPerDay must be an integer of 0 or more/],
  ])('refuses %j with a message saying what to fix', (context, message) => {
    // Act
    const read = () => settingsFor(context);
    // Assess
    expect(read).toThrow(message);
  });
});

describe('the callbackPorts setting', () => {
  it('reaches the API and webhook functions as CALLBACK_PORTS, the list both parse', () => {
    // Prepare: bundling is skipped (no stack is named in aws:cdk:bundling-stacks): only the environment matters
    const app = testApp({ 'aws:cdk:bundling-stacks': [], callbackPorts: '443,8443' });

    // Act
    const template = Template.fromStack(defineMediaPipeline(app));

    // Assess
    const queries = new TemplateQueries(template);
    for (const service of ['media-api', 'media-webhook']) {
      expect(environmentOf(queries.projectFunction(service).properties).CALLBACK_PORTS, service).toBe(
        '443,8443',
      );
    }
  });
});
