// Placeholder: replaced by the emulator bootstrap (DynamoDB Local) shortly.
export default async function setup(): Promise<void> {}
