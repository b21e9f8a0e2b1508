package org.example.assets;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.hyperledger.fabric.contract.Context;
import org.hyperledger.fabric.contract.ContractInterface;
import org.hyperledger.fabric.contract.annotation.Contract;
import org.hyperledger.fabric.contract.annotation.Default;
import org.hyperledger.fabric.contract.annotation.Info;
import org.hyperledger.fabric.contract.annotation.Transaction;
import org.hyperledger.fabric.shim.ChaincodeException;
import org.hyperledger.fabric.shim.ChaincodeStub;
import org.hyperledger.fabric.shim.ledger.KeyValue;
import org.hyperledger.fabric.shim.ledger.QueryResultsIterator;

/** Assets keyed by ID, stored as JSON with their fields in alphabetical order. */
@Contract(name = "assets", info = @Info(title = "Asset contract", version = "1.0.0"))
@Default
public final class AssetContract implements ContractInterface {

    private static String json(String id, String color, int size, String owner, int value) {
        return String.format("{\"AppraisedValue\":%d,\"Color\":\"%s\",\"ID\":\"%s\",\"Owner\":\"%s\",\"Size\":%d}",
                value, color, id, owner, size);
    }

    private static String field(String json, String name) {
        String key = "\"" + name + "\":";
        int start = json.indexOf(key) + key.length();
        int end = json.indexOf(json.charAt(start) == '"' ? '"' : ',', start + 1);
        return json.charAt(start) == '"' ? json.substring(start + 1, end) : json.substring(start, end);
    }

    private static String read(ChaincodeStub stub, String id) {
        String state = stub.getStringState(id);
        if (state == null || state.isEmpty()) {
            throw new ChaincodeException("the asset " + id + " does not exist");
        }
        return state;
    }

    @Transaction(intent = Transaction.TYPE.SUBMIT)
    public void CreateAsset(Context ctx, String id, String color, int size, String owner, int value) {
        ChaincodeStub stub = ctx.getStub();
        String existing = stub.getStringState(id);
        if (existing != null && !existing.isEmpty()) {
            throw new ChaincodeException("the asset " + id + " already exists");
        }
        stub.putStringState(id, json(id, color, size, owner, value));
    }

    @Transaction(intent = Transaction.TYPE.EVALUATE)
    public String ReadAsset(Context ctx, String id) {
        return read(ctx.getStub(), id);
    }

    @Transaction(intent = Transaction.TYPE.SUBMIT)
    public String TransferAsset(Context ctx, String id, String owner) {
        String asset = read(ctx.getStub(), id);
        String previous = field(asset, "Owner");
        ctx.getStub().putStringState(id, json(id, field(asset, "Color"), Integer.parseInt(field(asset, "Size")),
                owner, Integer.parseInt(field(asset, "AppraisedValue"))));
        return previous;
    }

    @Transaction(intent = Transaction.TYPE.EVALUATE)
    public String GetAllAssets(Context ctx) {
        List<String> all = new ArrayList<>();
        try (QueryResultsIterator<KeyValue> results = ctx.getStub().getStateByRange("", "")) {
            for (KeyValue kv : results) {
                all.add(new String(kv.getValue(), StandardCharsets.UTF_8));
            }
        } catch (Exception e) {
            throw new ChaincodeException("listing assets: " + e.getMessage());
        }
        return "[" + String.join(",", all) + "]";
    }
}
