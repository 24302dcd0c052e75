"""Operations, one module each; the registry is shared.operations (the hub and the gate use it too)."""
