import { describe, expect, it } from 'vitest';
import { PROVISIONERS, RESOURCE_SUPPORT } from '../../../local/resources/index.ts';

describe('the resource modules, assembled', () => {
  it('have a provisioner for every emulated type and none for a type that is not emulated', () => {
    const emulated = Object.entries(RESOURCE_SUPPORT)
      .filter(([, support]) => support.kind === 'emulated')
      .map(([type]) => type)
      .sort();

    expect(Object.keys(PROVISIONERS).sort()).toEqual(emulated);
  });

  it('give a reason for every type and property they accept without emulating it', () => {
    for (const support of Object.values(RESOURCE_SUPPORT)) {
      if (support.kind === 'ignored') {
        expect(support.reason).not.toBe('');
        continue;
      }
      for (const property of Object.values(support.properties)) {
        if (property.handling === 'accepted') expect(property.reason).not.toBe('');
      }
    }
  });
});
