// Runs the Store contract against every configured store (memory always, Mongo with TEST_MONGO_URI),
// and on Mongo once more with the query shapes the store uses on MongoDB (stores.ts).
import { mongoQueryShapesVariant, storeVariants } from '../helpers/stores.js';
import { runStoreContract } from './contract.js';
import { runDeliveryContract } from './contract-delivery.js';

for (const variant of [...storeVariants(), ...[mongoQueryShapesVariant()].filter((v) => v !== undefined)]) {
  runStoreContract(variant);
  runDeliveryContract(variant);
}
