import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** Whether the object is there (HeadObject): S3 answers a missing one 404 without a body, `NotFound`. */
export const objectExists = async (s3: S3Client, bucket: string, key: string): Promise<boolean> => {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || (error instanceof Error && ['NotFound', 'NoSuchKey'].includes(error.name))) {
      return false;
    }
    throw error;
  }
};
