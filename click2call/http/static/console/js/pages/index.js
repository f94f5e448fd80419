// The console's pages, in the order of the navigation. A page module: {id, nav, operatorOnly, strings, render}.
import call from "./call.js";
import floor from "./floor.js";

export const pages = [floor, call];
