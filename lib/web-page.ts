import { Duration } from 'aws-cdk-lib';
import { type HttpApi, HttpMethod, HttpNoneAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Construct } from 'constructs';
import { PAGE_ROUTES } from '../functions/web/serve-page.ts';
import { type BuiltWebPage, buildWebPage } from '../web/build.ts';
import { MediaFunction } from './constructs/media-function.ts';
import { acknowledge } from './constructs/nag.ts';
import type { Storage } from './storage.ts';

/** The page's paths, each a `GET` route of the HTTP API. */
export const WEB_PAGE_PATHS: readonly string[] = Object.keys(PAGE_ROUTES);

export interface WebPageProps {
  /** The HTTP API that serves the page at its root, beside the API it calls. */
  readonly httpApi: HttpApi;
  /**
   * The buckets the browser talks to (presigned uploads to one, result images from the other): their
   * origins go into the page's Content-Security-Policy.
   */
  readonly storage: Storage;
}

/**
 * The upload page (web/), served by the stack itself so that it shares the API's origin: its calls
 * are same-origin relative URLs, with no CORS and no second hosting service to deploy. The page is
 * built at synth time (web/build.ts, esbuild, as the functions are bundled) and shipped inside the
 * asset of a small function that answers `GET /`, `/app.js`, `/app.css` and `/favicon.svg` from memory.
 */
export class WebPage extends Construct {
  readonly pageFunction: MediaFunction;
  /** What was built into the function's asset. */
  readonly build: BuiltWebPage;

  constructor(scope: Construct, id: string, props: WebPageProps) {
    super(scope, id);
    const { storage } = props;

    this.build = buildWebPage();
    this.pageFunction = new MediaFunction(this, 'PageFunction', {
      source: 'web',
      serviceName: 'media-web',
      description: 'Serves the upload page of the media pipeline',
      memorySize: 256,
      timeout: Duration.seconds(5),
      environment: {
        UPLOADS_BUCKET: storage.uploadsBucket.bucketName,
        RESULTS_BUCKET: storage.resultsBucket.bucketName,
      },
      assetFiles: this.build.files.map((file) => file.path),
    });

    const integration = new HttpLambdaIntegration('PageIntegration', this.pageFunction);
    // Public whatever the API's auth mode: the page holds no data, and asks the visitor for a key or
    // token that it sends with its /api calls. Explicitly none, so a default authorizer never applies.
    const authorizer = new HttpNoneAuthorizer();
    for (const path of WEB_PAGE_PATHS) {
      for (const route of props.httpApi.addRoutes({
        path,
        methods: [HttpMethod.GET],
        integration,
        authorizer,
      })) {
        acknowledge(
          route,
          'AwsSolutions-APIG4',
          'The upload page and its assets are public on purpose: they hold no data, and every /api call the page makes carries the caller’s key or token.',
        );
      }
    }
  }
}
