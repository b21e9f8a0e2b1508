'use strict';

const { Contract } = require('fabric-contract-api');

// Keys sorted so every language writes the same JSON for the same asset.
function toJSON(asset) {
    const sorted = {};
    for (const key of Object.keys(asset).sort()) {
        sorted[key] = asset[key];
    }
    return Buffer.from(JSON.stringify(sorted));
}

class Assets extends Contract {
    async AssetExists(ctx, id) {
        const data = await ctx.stub.getState(id);
        return data && data.length > 0;
    }

    async CreateAsset(ctx, id, color, size, owner, appraisedValue) {
        if (await this.AssetExists(ctx, id)) {
            throw new Error(`the asset ${id} already exists`);
        }
        const asset = { ID: id, Color: color, Size: Number(size), Owner: owner, AppraisedValue: Number(appraisedValue) };
        await ctx.stub.putState(id, toJSON(asset));
        return JSON.stringify(asset);
    }

    async ReadAsset(ctx, id) {
        const data = await ctx.stub.getState(id);
        if (!data || data.length === 0) {
            throw new Error(`the asset ${id} does not exist`);
        }
        return data.toString();
    }

    async TransferAsset(ctx, id, newOwner) {
        const asset = JSON.parse(await this.ReadAsset(ctx, id));
        const previous = asset.Owner;
        asset.Owner = newOwner;
        await ctx.stub.putState(id, toJSON(asset));
        return previous;
    }

    async GetAllAssets(ctx) {
        const all = [];
        for await (const { value } of ctx.stub.getStateByRange('', '')) {
            all.push(JSON.parse(Buffer.from(value).toString('utf8')));
        }
        return JSON.stringify(all);
    }
}

module.exports = Assets;
