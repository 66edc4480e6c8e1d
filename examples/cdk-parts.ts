/**
 * Example (d): tierlog's parts on their own, over tables and a bucket your stack defines (the
 * `Tierlog` construct makes all of this in one), checked by cdk-nag's AwsSolutions pack. Each part
 * checks, at synth, that the resources it is given are ones tierlog can work with: the change-log
 * table keyed and indexed as `changeLogTableSchema` says and in one region, the objects table's
 * key, stream and TTL, the bucket's lifecycle rules, and an environment naming what the grants cover.
 *
 *   npm run build && npx cdk synth --app 'node out/cdk-parts.js'
 */
import { App, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { configToEnv } from 'tierlog';
import {
  BlobBucket,
  changeLogTableSchema,
  ObjectsStreamCleanup,
  objectsTableSchema,
  schemaTable,
  TierlogMonitoring,
  TierlogSweeper,
} from 'tierlog/cdk';

export class MyPartsStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    // The tables and the bucket: tierlog's schemas, your stack's resources.
    const changeLogTable = schemaTable(this, 'ChangeLog', changeLogTableSchema);
    const objectsTable = schemaTable(this, 'Objects', objectsTableSchema, {
      dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES, // old images: the blobs to delete
      timeToLiveAttribute: 'expiresAt', // the objects' expiry
    });
    const { bucket } = new BlobBucket(this, 'Blobs');
    const resources = { changeLogTable, objectsTable, bucket, prefix: 'media' };
    const leaseShards = 4;
    // What every function (yours too) reads: TIERLOG_CHANGELOG_TABLE, _OBJECTS_TABLE, _BUCKET, ...
    const environment = configToEnv({
      changeLogTable: changeLogTable.tableName,
      objectsTable: objectsTable.tableName,
      bucket: bucket.bucketName,
      prefix: resources.prefix,
      leaseShards,
    });

    // The deployment their metrics carry, which the alarms watch: unique in the account and region
    // (without one, every such deployment there publishes the same metrics, and hears the others').
    const metricsDeployment = this.stackName;
    // The sweeper (scheduled), the objects stream's cleanup, and the alarms over both.
    const sweeper = new TierlogSweeper(this, 'Sweeper', { resources, environment, leaseShards, metricsDeployment });
    const objectsStream = new ObjectsStreamCleanup(this, 'ObjectsStream', { resources, environment, metricsDeployment });
    new TierlogMonitoring(this, 'Monitoring', {
      sweeperFunction: sweeper.function,
      deadLetterQueue: sweeper.deadLetterQueue,
      objectsStream,
      metricsDeployment,
      oldestExpiredAgeThreshold: Duration.minutes(30),
    });
    // The findings each part has by design (object access under the prefix, dead-letter queues
    // cdk-nag does not recognise as such, ...), acknowledged with their reasons.
    sweeper.acknowledgeNagFindings();
    objectsStream.acknowledgeNagFindings();
  }
}

const app = new App();
new MyPartsStack(app, 'MyParts');
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
