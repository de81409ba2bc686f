import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { settingsFromContext } from '#lib/app';
import { cdkJsonContext } from './synthesize.ts';

const settingsFor = (context: Record<string, unknown>) => settingsFromContext(new App({ context }).node);

describe('settingsFromContext', () => {
  it('reads the settings cdk.json gives, which are the stack’s defaults', () => {
    // Act
    const settings = settingsFor(cdkJsonContext());
    // Assess
    expect(settings).toEqual({
      allowedOrigins: ['*'],
      maxAttempts: 3,
      webhookMaxAttempts: 8,
      allowLoopbackCallbacks: false,
      retainData: true,
      multipartThresholdBytes: 100 * 1024 * 1024,
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
      webhookMaxAttempts: '12',
      allowLoopbackCallbacks: 'true',
      retainData: 'false',
      multipartThresholdBytes: '8388608',
    });
    // Assess
    expect(settings).toEqual({
      allowedOrigins: ['https://app.example.com', 'http://localhost:5173'],
      maxAttempts: 5,
      webhookMaxAttempts: 12,
      allowLoopbackCallbacks: true,
      retainData: false,
      multipartThresholdBytes: 8 * 1024 * 1024,
    });
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
    [{ retainData: 'yes' }, /retainData must be true or false/],
    [{ allowLoopbackCallbacks: 1 }, /allowLoopbackCallbacks must be true or false/],
    [{ allowedOrigins: [] }, /allowedOrigins must be a non-empty list/],
    [
      { multipartThresholdBytes: 1024 },
      /multipartThresholdBytes must be an integer from 5242880 to 5368709120/,
    ],
    [{ multipartThresholdBytes: 6 * 1024 ** 3 }, /multipartThresholdBytes must be an integer/],
    [{ allowedOrigins: ['https://app.example.com/path'] }, /is not an origin/],
  ])('refuses %j with a message saying what to fix', (context, message) => {
    // Act
    const read = () => settingsFor(context);
    // Assess
    expect(read).toThrow(message);
  });
});
