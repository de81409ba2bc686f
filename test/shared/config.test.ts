import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { envPortList, loadConfig } from '#shared/config';
import { ConfigError } from '#shared/errors';

const portsFrom = (value: string | undefined) =>
  loadConfig(
    z.object({ CALLBACK_PORTS: envPortList([80, 443]) }),
    value === undefined ? {} : { CALLBACK_PORTS: value },
  ).CALLBACK_PORTS;

describe('envPortList', () => {
  it('reads comma-separated ports, spaces allowed, and falls back to its default when unset', () => {
    expect(portsFrom('443, 8443')).toEqual([443, 8443]);
    expect(portsFrom('8080')).toEqual([8080]);
    expect(portsFrom(undefined)).toEqual([80, 443]);
  });

  it.each([[''], ['https'], ['443,'], ['0'], ['70000'], ['80;443'], ['-1']])(
    'fails the cold start on %j, naming the variable',
    (value) => {
      expect(() => portsFrom(value)).toThrow(ConfigError);
      expect(() => portsFrom(value)).toThrow(/CALLBACK_PORTS/);
    },
  );
});
