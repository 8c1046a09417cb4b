from configparser import ConfigParser
import setuptools, shlex

# note: all settings are in settings.ini; edit there, not here
config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, "missing expected setting: {}".format(o)
setup_cfg = {o:cfg[o] for o in cfg_keys}

# SPDX licence expressions (PEP 639); the licence text ships as LICENSE
spdx = {'apache2': 'Apache-2.0', 'mit': 'MIT'}
statuses = [ '1 - Planning', '2 - Pre-Alpha', '3 - Alpha',
    '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive' ]
py_versions = '3.9 3.10 3.11 3.12 3.13'.split()

def reqs(key): return shlex.split(cfg.get(key, '').replace('\n', ' '))
requirements = reqs('requirements')
# one extra per command family; `offline` is whole (every command runs with only it), `dev` is what the tests need
extras = {k: reqs(f'{k}_requirements') for k in ('search', 'vlm', 'serve', 'docs', 'offline', 'dev')}
extras['offline'] += extras['search'] + extras['vlm'] + extras['serve']
extras['dev'] += extras['search'] + extras['vlm'] + extras['serve'] + extras['docs']
extras['all'] = sorted(set(sum(extras.values(), [])))
min_python = cfg['min_python']
console_scripts = cfg.get('console_scripts', '').split()

setuptools.setup(
    name = cfg['lib_name'],
    license_expression = spdx.get(cfg['license'].lower(), cfg['license']),
    license_files = ['LICENSE'],
    classifiers = [
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: '+o for o in py_versions[py_versions.index(min_python):]],
    url = cfg['git_url'],
    packages = setuptools.find_packages(include=['edgeglass', 'edgeglass.*']),
    include_package_data = True,
    install_requires = requirements,
    extras_require = extras,
    dependency_links = cfg.get('dep_links','').split(),
    python_requires  = '>=' + cfg['min_python'],
    long_description = open('README.md', encoding='utf-8').read(),
    long_description_content_type = 'text/markdown',
    zip_safe = False,
    entry_points = {
        'console_scripts': console_scripts,
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']
    },
    **setup_cfg)
