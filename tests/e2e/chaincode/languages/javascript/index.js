'use strict';

const Assets = require('./lib/assets');

module.exports.Assets = Assets;
module.exports.contracts = [Assets];
