// Encrypts once with the AWS SDK for JavaScript v3: CreateKey (AWS_KMS), Encrypt with an
// encryption context, Decrypt without a KeyId (the ciphertext names its key).
// Usage: node kms_crypto.mjs ENDPOINT REGION  (prints one JSON object)
import {
  KMSClient,
  CreateKeyCommand,
  EncryptCommand,
  DecryptCommand,
} from "@aws-sdk/client-kms";

const [endpoint, region] = process.argv.slice(2);
const client = new KMSClient({
  endpoint,
  region,
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  maxAttempts: 1,
});

const plaintext = new TextEncoder().encode("hello from javascript \u2713");
const context = { purpose: "js-test", tenant: "t1" };

const created = await client.send(new CreateKeyCommand({ Description: "js crypto" }));
const keyArn = created.KeyMetadata.Arn;
const encrypted = await client.send(
  new EncryptCommand({
    KeyId: created.KeyMetadata.KeyId,
    Plaintext: plaintext,
    EncryptionContext: context,
  }),
);
const decrypted = await client.send(
  new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: context }),
);

let wrongContext = null;
try {
  await client.send(
    new DecryptCommand({
      CiphertextBlob: encrypted.CiphertextBlob,
      EncryptionContext: { purpose: "other" },
    }),
  );
} catch (error) {
  wrongContext = error.name;
}

console.log(
  JSON.stringify({
    keyArn,
    origin: created.KeyMetadata.Origin,
    encryptKeyId: encrypted.KeyId,
    decryptKeyId: decrypted.KeyId,
    algorithm: decrypted.EncryptionAlgorithm,
    plaintextMatches: Buffer.from(decrypted.Plaintext).equals(Buffer.from(plaintext)),
    plaintextIsBytes: decrypted.Plaintext instanceof Uint8Array,
    ciphertextLength: encrypted.CiphertextBlob.length,
    wrongContext,
  }),
);
