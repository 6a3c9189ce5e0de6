// Encrypts once with the AWS SDK for JavaScript v3: CreateKey, Encrypt with an encryption
// context, Decrypt without a KeyId (the ciphertext names its key), and a data key from
// GenerateDataKey decrypted back.
// Usage: node kms_crypto.mjs ENDPOINT REGION [CUSTOM_KEY_STORE_ID XKS_KEY_ID]
//   (an AWS_KMS key; with a store, a key in that external key store)  (prints one JSON object)
import {
  KMSClient,
  CreateKeyCommand,
  EncryptCommand,
  DecryptCommand,
  GenerateDataKeyCommand,
} from "@aws-sdk/client-kms";

const [endpoint, region, storeId, xksKeyId] = process.argv.slice(2);
const client = new KMSClient({
  endpoint,
  region,
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
  maxAttempts: 1,
});

const plaintext = new TextEncoder().encode("hello from javascript \u2713");
const context = { purpose: "js-test", tenant: "t1" };

const external = storeId
  ? { Origin: "EXTERNAL_KEY_STORE", CustomKeyStoreId: storeId, XksKeyId: xksKeyId }
  : {};
const created = await client.send(
  new CreateKeyCommand({ Description: "js crypto", ...external }),
);
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

const dataKey = await client.send(
  new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: "AES_256" }),
);
const dataKeyBack = await client.send(
  new DecryptCommand({ CiphertextBlob: dataKey.CiphertextBlob }),
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
    dataKeyLength: dataKey.Plaintext.length,
    dataKeyMatches: Buffer.from(dataKey.Plaintext).equals(Buffer.from(dataKeyBack.Plaintext)),
    wrongContext,
  }),
);
