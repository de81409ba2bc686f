/**
 * The jobs table's key and TTL attribute: JobStore writes them, the Storage construct declares them,
 * and the test harness creates its tables with them. Kept apart from the store so that the CDK app and
 * the harness need no SDK to read them.
 */
export const JOBS_TABLE_KEYS = { partitionKey: 'pk', timeToLiveAttribute: 'ttl' } as const;
