// Runs the PushStore contract against every configured store (memory always, Mongo with TEST_MONGO_URI).
import { storeVariants } from '../helpers/stores.js';
import { runPushContract } from './push-contract.js';

for (const variant of storeVariants()) runPushContract(variant);
