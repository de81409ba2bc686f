import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { settingsFromContext } from '#lib/app';

const settingsFor = (context: Record<string, unknown>) => settingsFromContext(new App({ context }).node);

describe('the maxRetries setting', () => {
  it.each([
    ['0', 0],
    ['3', 3],
    [20, 20],
  ])('reads %j as %d manual retries', (value, retries) => {
    // Act
    const settings = settingsFor({ maxRetries: value });
    // Assess
    expect(settings.maxRetries).toBe(retries);
  });

  it.each(['21', '-1', '1.5', 'three', true])('refuses %j, saying what it takes', (value) => {
    // Act
    const read = () => settingsFor({ maxRetries: value });
    // Assess
    expect(read).toThrow(`context maxRetries must be an integer from 0 to 20, not ${JSON.stringify(value)}`);
  });
});
