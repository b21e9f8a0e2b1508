import { AssetLedger } from './ledger';

export { AssetLedger } from './ledger';
export const contracts: any[] = [AssetLedger];
