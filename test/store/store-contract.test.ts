// Runs the Store contract against every configured store (memory always, Mongo with TEST_MONGO_URI).
import { storeVariants } from '../helpers/stores.js';
import { runStoreContract } from './contract.js';
import { runDeliveryContract } from './contract-delivery.js';

for (const variant of storeVariants()) {
  runStoreContract(variant);
  runDeliveryContract(variant);
}
