import { Context, Contract, Info, Returns, Transaction } from 'fabric-contract-api';

interface Asset {
    AppraisedValue: number;
    Color: string;
    ID: string;
    Owner: string;
    Size: number;
}

@Info({ title: 'AssetLedger', description: 'Assets keyed by ID' })
export class AssetLedger extends Contract {
    private async load(ctx: Context, id: string): Promise<Asset> {
        const bytes = await ctx.stub.getState(id);
        if (bytes.length === 0) {
            throw new Error(`the asset ${id} does not exist`);
        }
        return JSON.parse(Buffer.from(bytes).toString('utf8')) as Asset;
    }

    private async store(ctx: Context, asset: Asset): Promise<void> {
        // Fields in alphabetical order, as the interface declares them.
        const ordered: Asset = {
            AppraisedValue: asset.AppraisedValue,
            Color: asset.Color,
            ID: asset.ID,
            Owner: asset.Owner,
            Size: asset.Size,
        };
        await ctx.stub.putState(asset.ID, Buffer.from(JSON.stringify(ordered)));
    }

    @Transaction()
    public async CreateAsset(ctx: Context, id: string, color: string, size: number, owner: string, value: number): Promise<void> {
        const existing = await ctx.stub.getState(id);
        if (existing.length > 0) {
            throw new Error(`the asset ${id} already exists`);
        }
        await this.store(ctx, { ID: id, Color: color, Size: Number(size), Owner: owner, AppraisedValue: Number(value) });
    }

    @Transaction(false)
    @Returns('string')
    public async ReadAsset(ctx: Context, id: string): Promise<string> {
        return JSON.stringify(await this.load(ctx, id));
    }

    @Transaction()
    @Returns('string')
    public async TransferAsset(ctx: Context, id: string, owner: string): Promise<string> {
        const asset = await this.load(ctx, id);
        const previous = asset.Owner;
        await this.store(ctx, { ...asset, Owner: owner });
        return previous;
    }

    @Transaction(false)
    @Returns('string')
    public async GetAllAssets(ctx: Context): Promise<string> {
        const found: Asset[] = [];
        const iterator = await ctx.stub.getStateByRange('', '');
        let next = await iterator.next();
        while (!next.done) {
            found.push(JSON.parse(Buffer.from(next.value.value).toString('utf8')) as Asset);
            next = await iterator.next();
        }
        await iterator.close();
        return JSON.stringify(found);
    }
}
