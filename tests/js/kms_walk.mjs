// Drives cks serve with the AWS SDK for JavaScript v3: create, describe, paginate, not-found.
// Usage: node kms_walk.mjs ENDPOINT REGION  (prints one JSON object)
import {
  KMSClient,
  CreateCustomKeyStoreCommand,
  DescribeCustomKeyStoresCommand,
  paginateDescribeCustomKeyStores,
} from "@aws-sdk/client-kms";

const [endpoint, region] = process.argv.slice(2);
const client = new KMSClient({
  endpoint,
  region,
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  maxAttempts: 1,
});

const ids = [];
for (let i = 0; i < 5; i++) {
  const name = `js-${i}`;
  const out = await client.send(
    new CreateCustomKeyStoreCommand({
      CustomKeyStoreName: name,
      CustomKeyStoreType: "EXTERNAL_KEY_STORE",
      XksProxyConnectivity: "PUBLIC_ENDPOINT",
      XksProxyUriEndpoint: "https://xks.example.test",
      XksProxyUriPath: `/${name}/kms/xks/v1`,
      XksProxyAuthenticationCredential: {
        AccessKeyId: "ABCDEFGHIJKLMNOPQRSTUVWX",
        RawSecretAccessKey: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",
      },
    }),
  );
  ids.push(out.CustomKeyStoreId);
}

const paged = [];
let pages = 0;
for await (const page of paginateDescribeCustomKeyStores({ client, pageSize: 2 }, {})) {
  pages += 1;
  for (const store of page.CustomKeyStores) paged.push(store.CustomKeyStoreId);
}

const one = await client.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: ids[0] }));
let notFound = null;
try {
  await client.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreName: "missing" }));
} catch (error) {
  notFound = error.name;
}

console.log(
  JSON.stringify({
    created: ids.length,
    ids,
    paged,
    pages,
    notFound,
    creationDateIsDate: one.CustomKeyStores[0].CreationDate instanceof Date,
  }),
);
