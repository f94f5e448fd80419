// The console's pages, in the order of the navigation. A page module: {id, nav, operatorOnly, strings, render}.
import call from "./call.js";
import cluster from "./cluster.js";
import dashboard from "./dashboard.js";
import floor from "./floor.js";
import history from "./history.js";
import hooks from "./hooks.js";

export const pages = [floor, call, history, dashboard, hooks, cluster];
