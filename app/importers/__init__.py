"""History importers: pairs files and OpenPhone message exports, learned as examples."""
