// Placeholder so the target builds; the module's first real file replaces it.
