// PLACEHOLDER: replaced by the real handler; exists so that CDK synth has an entry to bundle.
export const handler = async (): Promise<void> => {};
